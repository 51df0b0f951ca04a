-- A token bucket. KEYS[1] = the bucket's hash. ARGV: capacity, refill per second, now (ms),
-- cost. Returns { allowed (0/1), tokens left (floor), ms until full, ms until `cost` tokens }.
local capacity, rate = tonumber(ARGV[1]), tonumber(ARGV[2])
local now, cost = tonumber(ARGV[3]), tonumber(ARGV[4])
local s = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(s[1] or ARGV[1]), tonumber(s[2] or ARGV[3])
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate / 1000)
local allowed = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', ARGV[3])
local full_ms = math.ceil((capacity - tokens) * 1000 / rate)
redis.call('PEXPIRE', KEYS[1], math.max(full_ms, 1000))
local retry_ms = 0
if allowed == 0 then retry_ms = math.ceil((cost - tokens) * 1000 / rate) end
return { allowed, math.floor(tokens), full_ms, retry_ms }

-- One limit key's running count and token bucket. KEYS[1] = the key's hash.
-- ARGV: op ('acquire' | 'peek' | 'force' | 'release' | 'refund' | 'set'), now (microseconds),
-- then for 'set': max_running ('' = none), per_second ('' = none), burst.
local K, op, now = KEYS[1], ARGV[1], tonumber(ARGV[2])
local s = redis.call('HMGET', K, 'running', 'max', 'rate', 'burst', 'tokens', 'at')
local running = tonumber(s[1] or '0')
local max, rate, burst = tonumber(s[2] or ''), tonumber(s[3] or ''), tonumber(s[4] or '')
local function tokens()
  if not rate then return math.huge end
  local at = tonumber(s[6] or ARGV[2])
  local elapsed = math.max(0, now - at) / 1e6
  return math.min(tonumber(s[5] or '0') + elapsed * rate, burst)
end
if op == 'set' then
  redis.call('HDEL', K, 'max', 'rate', 'burst', 'tokens')
  if ARGV[3] ~= '' then redis.call('HSET', K, 'max', ARGV[3]) end
  if ARGV[4] ~= '' then
    redis.call('HSET', K, 'rate', ARGV[4], 'burst', ARGV[5], 'tokens', ARGV[5])
  end
  redis.call('HSET', K, 'at', ARGV[2])
  return 1
end
if op == 'peek' or op == 'acquire' then
  local allowed = (not max or running < max) and tokens() >= 1
  if not allowed then return 0 end
  if op == 'peek' then return 1 end
end
if op == 'acquire' or op == 'force' then
  redis.call('HSET', K, 'running', running + 1)
  if rate and op == 'acquire' then
    redis.call('HSET', K, 'tokens', tostring(tokens() - 1), 'at', ARGV[2])
  end
  return 1
end
-- release (a lease ended) or refund (an acquire that was not used)
redis.call('HSET', K, 'running', math.max(0, running - 1))
if rate and op == 'refund' then
  redis.call('HSET', K, 'tokens', tostring(math.min(tokens() + 1, burst)), 'at', ARGV[2])
end
return 1

-- One limit key's running count and token bucket. KEYS[1] = the key's hash.
-- ARGV: op ('acquire' | 'peek' | 'force' | 'release' | 'refund' | 'set'), now (microseconds),
-- then for 'set': max_running ('' = none), per_second ('' = none), burst; for the others: how
-- many tasks (default 1). 'acquire' counts as many as the key admits, up to that many, and
-- returns how many; 'peek' returns 1 if one more is admitted; the others return 1.
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
local n = tonumber(ARGV[3] or '1')
if op == 'peek' then
  if (not max or running < max) and tokens() >= 1 then return 1 end
  return 0
end
if op == 'acquire' then
  local room = n
  if max then room = math.min(room, max - running) end
  if rate then room = math.min(room, math.floor(tokens())) end
  if room <= 0 then return 0 end
  redis.call('HSET', K, 'running', running + room)
  if rate then redis.call('HSET', K, 'tokens', tostring(tokens() - room), 'at', ARGV[2]) end
  return room
end
if op == 'force' then
  redis.call('HSET', K, 'running', running + n)
  return 1
end
-- release (leases ended) or refund (acquired counts that were not used)
redis.call('HSET', K, 'running', math.max(0, running - n))
if rate and op == 'refund' then
  redis.call('HSET', K, 'tokens', tostring(math.min(tokens() + n, burst)), 'at', ARGV[2])
end
return 1

-- Takes or renews leadership. KEYS[1] = holder key (value "<term>|<holder>"), KEYS[2] = term
-- counter. ARGV[1] = holder, ARGV[2] = ttl in ms. Returns the term when ARGV[1] leads, else -1.
local current = redis.call('GET', KEYS[1])
if current then
  local sep = string.find(current, '|', 1, true)
  local term, holder = string.sub(current, 1, sep - 1), string.sub(current, sep + 1)
  if holder ~= ARGV[1] then return -1 end
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(term)
end
local term = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], term .. '|' .. ARGV[1], 'NX', 'PX', ARGV[2])
return term

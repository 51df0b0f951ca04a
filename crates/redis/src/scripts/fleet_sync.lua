-- Applies one tenant's summary to the fleet-wide rotation (all keys share the fleet hash tag).
-- KEYS[1] = fleet prefix `<prefix>:{#}:`. ARGV: tenant, version, c0..c3, wake, took level
-- (-1: none), the stride of weight 1, how many tasks were taken at that level.
local F = KEYS[1]
local tenant, version = ARGV[1], tonumber(ARGV[2])
local took = tonumber(ARGV[8])
local weight = tonumber(redis.call('HGET', F .. 'weight', tenant) or '1')
local stride = math.floor(tonumber(ARGV[9]) / weight)
local function fmt(n) return string.format('%.0f', n) end
local taken = tonumber(ARGV[10] or '1')
if took >= 0 and taken > 0 then
  -- As `taken` claims one after another: each first lifts the virtual time to the pass.
  local pass = tonumber(redis.call('HGET', F .. 'pass:' .. took, tenant) or '0')
  local vt = tonumber(redis.call('HGET', F .. 'vt', took) or '0')
  local last = pass + (taken - 1) * stride
  if last > vt then redis.call('HSET', F .. 'vt', took, fmt(last)) end
  pass = pass + taken * stride
  redis.call('HSET', F .. 'pass:' .. took, tenant, fmt(pass))
  if redis.call('ZSCORE', F .. 'rot:' .. took, tenant) then
    redis.call('ZADD', F .. 'rot:' .. took, pass, tenant)
  end
end
local seen = tonumber(redis.call('HGET', F .. 'ver', tenant) or '0')
if version <= seen then return 0 end
redis.call('HSET', F .. 'ver', tenant, version)
for level = 0, 3 do
  local count = tonumber(ARGV[3 + level])
  local rot = F .. 'rot:' .. level
  redis.call('HSET', F .. 'depth', tenant .. '|' .. level, count)
  if count > 0 then
    if not redis.call('ZSCORE', rot, tenant) then
      local pass = tonumber(redis.call('HGET', F .. 'pass:' .. level, tenant) or '0')
      local vt = tonumber(redis.call('HGET', F .. 'vt', level) or '0')
      if vt > pass then pass = vt end
      redis.call('HSET', F .. 'pass:' .. level, tenant, fmt(pass))
      redis.call('ZADD', rot, pass, tenant)
    end
  else
    redis.call('ZREM', rot, tenant)
    redis.call('HDEL', F .. 'depth', tenant .. '|' .. level)
  end
end
if ARGV[7] ~= '' then
  redis.call('ZADD', F .. 'wake', ARGV[7], tenant)
else
  redis.call('ZREM', F .. 'wake', tenant)
end
return 1

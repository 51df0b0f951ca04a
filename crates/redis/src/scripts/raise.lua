-- Raises each counter KEYS[i] to at least ARGV[i] (never lowers one); returns their values.
local out = {}
for i, key in ipairs(KEYS) do
  local current = tonumber(redis.call('GET', key) or '0')
  local wanted = tonumber(ARGV[i])
  if wanted > current then
    redis.call('SET', key, ARGV[i])
    current = wanted
  end
  out[i] = current
end
return out

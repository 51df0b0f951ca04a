-- Gives leadership up if ARGV[1] holds it. KEYS[1] = holder key. Returns 1 when released.
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local sep = string.find(current, '|', 1, true)
if string.sub(current, sep + 1) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1

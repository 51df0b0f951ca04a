-- Moves due scheduled and failed tasks to pending, then applies aging. A = {}.
local moved = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', B .. 'timers', '-inf', NOW)) do
  make_pending(id, hget(id, 'status'))
  moved = moved + 1
end
while CFG.aging do
  local first = redis.call('ZRANGEBYSCORE', B .. 'aging', '-inf', NOW, 'WITHSCORES', 'LIMIT', 0, 1)
  if #first == 0 then break end
  local id, at = first[1], tonumber(first[2])
  redis.call('ZREM', B .. 'aging', id)
  local level = tonumber(hget(id, 'level'))
  if level > 0 then
    local f = redis.call('HMGET', tk(id), 'lane', 'seq')
    local lk = lane_key(level, f[1])
    redis.call('ZREM', lk, id)
    local head = redis.call('ZRANGE', lk, 0, 0, 'WITHSCORES')
    if #head == 0 then
      redis.call('ZREM', heads_key(level), f[1])
    else
      redis.call('ZADD', heads_key(level), head[2], f[1])
    end
    redis.call('HINCRBY', META, 'c' .. level, -1)
    redis.call('HSET', tk(id), 'level', level - 1)
    push(id)
    if level - 1 > 0 then
      redis.call('HSET', tk(id), 'aging', fmt(at + CFG.aging))
      redis.call('ZADD', B .. 'aging', at + CFG.aging, id)
    else
      redis.call('HDEL', tk(id), 'aging')
    end
  end
end
return reply({ moved = moved })

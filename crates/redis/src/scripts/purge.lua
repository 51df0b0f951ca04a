-- Deletes dead letters (A.index = 'dead') or finished tasks (A.index = 'fin') older than
-- A.cutoff; returns their ids.
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', B .. A.index, '-inf', '(' .. A.cutoff)) do
  local status = hget(id, 'status')
  local finished = status == 'completed' or status == 'cancelled'
  if (A.index == 'dead' and status == 'dead_letter') or (A.index == 'fin' and finished) then
    remove_task(id)
    table.insert(out, id)
  else
    redis.call('ZREM', B .. A.index, id)
  end
end
return reply({ out = out })

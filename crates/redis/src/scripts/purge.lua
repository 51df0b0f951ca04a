-- Deletes dead letters (A.index = 'dead') or finished tasks (A.index = 'fin') older than
-- A.cutoff, at most A.limit index entries per call (a long script blocks every client);
-- returns the ids deleted and how many entries it looked at.
local out = {}
local seen = redis.call('ZRANGEBYSCORE', B .. A.index, '-inf', '(' .. A.cutoff, 'LIMIT', 0, A.limit)
for _, id in ipairs(seen) do
  local status = hget(id, 'status')
  local finished = status == 'completed' or status == 'cancelled'
  if (A.index == 'dead' and status == 'dead_letter') or (A.index == 'fin' and finished) then
    remove_task(id)
    table.insert(out, id)
  else
    redis.call('ZREM', B .. A.index, id)
  end
end
return reply({ out = out, seen = #seen })

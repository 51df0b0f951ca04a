-- Completes leased tasks, in order, and unblocks their dependents.
-- A = { items = [{ id, fence, result }] }; out[i] is '' or why item i was refused.
local before = fleet_state()
local out = {}
for i, item in ipairs(A.items) do
  local why = refusal(item.id, item.fence)
  if why then
    out[i] = why
  else
    local from = hget(item.id, 'status')
    end_lease(item.id)
    set_status(item.id, from, 'completed')
    redis.call('HSET', tk(item.id), 'finished', fmt(NOW))
    if item.result ~= '' then redis.call('HSET', tk(item.id), 'result', item.result) end
    redis.call('ZADD', B .. 'fin', NOW, item.id)
    redis.call('HINCRBY', B .. 'stats', 'completed', 1)
    unblock(item.id)
    out[i] = ''
  end
end
return reply_since({ out = out }, before)

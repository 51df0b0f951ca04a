-- Cancels a task, or asks its lease holder to stop. A = { id, reason }.
local id = A.id
local status = hget(id, 'status')
if not status then return fail('not_found') end
if status == 'assigned' or status == 'running' then
  redis.call('HSET', tk(id), 'cancel', '1', 'updated', fmt(NOW))
  return reply({ outcome = 'requested' })
end
if status == 'completed' or status == 'cancelled' then
  return fail('illegal', { from = status })
end
if status == 'pending' then unpush(id) end
if status == 'dead_letter' then redis.call('ZREM', B .. 'dead', id) end
finish_cancelled(id, status, A.reason)
return reply({ outcome = 'cancelled' })

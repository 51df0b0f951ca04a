-- Completes a leased task and unblocks its dependents. A = { id, fence, result }.
local why = refusal(A.id, A.fence)
if why then return fail(why) end
local from = hget(A.id, 'status')
end_lease(A.id)
set_status(A.id, from, 'completed')
redis.call('HSET', tk(A.id), 'finished', fmt(NOW))
if A.result ~= '' then redis.call('HSET', tk(A.id), 'result', A.result) end
redis.call('ZADD', B .. 'fin', NOW, A.id)
redis.call('HINCRBY', B .. 'stats', 'completed', 1)
unblock(A.id)
return reply({})

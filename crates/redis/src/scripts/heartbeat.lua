-- Extends a live lease by the lease TTL from now. A = { id, fence }.
local why = refusal(A.id, A.fence)
if why then return fail(why) end
local before = fleet_state()
local expires = NOW + CFG.ttl
redis.call('HSET', tk(A.id), 'expires', fmt(expires), 'updated', fmt(NOW))
redis.call('ZADD', B .. 'leases', expires, A.id)
return reply_since({ expires = fmt(expires), cancel = hget(A.id, 'cancel') == '1' }, before)

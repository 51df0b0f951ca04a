-- Leases the oldest task of one lane of the tenant at one level.
-- A = { level, lane, fence, agent, lkeys } (lkeys: the limit keys counted for this lease).
local lk = lane_key(A.level, A.lane)
local first = redis.call('ZRANGE', lk, 0, 0)
if #first == 0 then return reply({}) end
local id = first[1]
unpush(id)
set_status(id, 'pending', 'assigned')
local expires = NOW + CFG.ttl
redis.call('HSET', tk(id), 'assignee', A.agent, 'fence', A.fence, 'expires', fmt(expires),
  'lkeys', A.lkeys)
redis.call('HDEL', tk(id), 'cancel')
redis.call('ZADD', B .. 'leases', expires, id)
redis.call('HINCRBY', B .. 'load', A.agent, 1)
redis.call('HINCRBY', B .. 'stats', 'claimed', 1)
return reply({ rec = record(id) })

-- Leases, in seq order, up to #A.agents oldest tasks of one lane of the tenant at one level:
-- the i-th lease goes to A.agents[i] under A.fences[i]. After the first, it stops before a task
-- that another lane's head now precedes (that lane would be chosen next), so the leases are
-- those claims made one after another would take.
-- A = { level, lane, fences, agents, lkeys } (lkeys: the limit keys counted for each lease).
local lk = lane_key(A.level, A.lane)
local hk = heads_key(A.level)
local recs = {}
local start = nil
for i = 1, #A.agents do
  local first = redis.call('ZRANGE', lk, 0, 0, 'WITHSCORES')
  if #first == 0 then break end
  if start == nil then
    start = first[2]
  elseif #redis.call('ZRANGEBYSCORE', hk, '(' .. start, '(' .. first[2], 'LIMIT', 0, 1) > 0 then
    break
  end
  local id = first[1]
  unpush(id)
  set_status(id, 'pending', 'assigned')
  local expires = NOW + CFG.ttl
  redis.call('HSET', tk(id), 'assignee', A.agents[i], 'fence', A.fences[i],
    'expires', fmt(expires), 'lkeys', A.lkeys)
  redis.call('HDEL', tk(id), 'cancel')
  redis.call('ZADD', B .. 'leases', expires, id)
  redis.call('HINCRBY', B .. 'load', A.agents[i], 1)
  table.insert(recs, record(id))
end
if #recs > 0 then redis.call('HINCRBY', B .. 'stats', 'claimed', #recs) end
return reply({ recs = recs })

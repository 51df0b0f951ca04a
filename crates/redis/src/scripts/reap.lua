-- Recovers every lease of the tenant that has expired (A = {}) or that an agent holds
-- (A = { agent, reason }), in expiry order.
local out = {}
local ids
if A.agent then
  ids = redis.call('ZRANGE', B .. 'leases', 0, -1)
else
  ids = redis.call('ZRANGEBYSCORE', B .. 'leases', '-inf', NOW)
end
for _, id in ipairs(ids) do
  if not A.agent then
    table.insert(out, recover(id, 'lease expired'))
  elseif hget(id, 'assignee') == A.agent then
    table.insert(out, recover(id, 'failover: ' .. A.reason))
  end
end
return reply({ out = out })

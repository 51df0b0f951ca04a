-- Marks a leased task running (idempotent for the holder). A = { id, fence }.
local why = refusal(A.id, A.fence)
if why then return fail(why) end
local before = fleet_state()
if hget(A.id, 'status') ~= 'running' then
  set_status(A.id, 'assigned', 'running')
  redis.call('HSET', tk(A.id), 'started', fmt(NOW))
end
return reply_since({}, before)

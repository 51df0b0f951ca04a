-- Gives a leased task back without counting an attempt. A = { id, fence }.
local why = refusal(A.id, A.fence)
if why then return fail(why) end
local from = hget(A.id, 'status')
end_lease(A.id)
if hget(A.id, 'cancel') then
  finish_cancelled(A.id, from, 'cancelled while leased')
else
  make_pending(A.id, from)
end
return reply({ status = hget(A.id, 'status') })

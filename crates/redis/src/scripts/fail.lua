-- Ends an attempt as failed. A = { id, fence, message, retryable, retry_after, factor }, where
-- factor (in (0, 1], from the store's jitter source) shortens the backoff.
local why = refusal(A.id, A.fence)
if why then return fail(why) end
local id = A.id
local from = hget(id, 'status')
end_lease(id)
if hget(id, 'cancel') then
  finish_cancelled(id, from, 'cancelled while running')
  return reply({ outcome = 'cancelled' })
end
redis.call('HINCRBY', B .. 'stats', 'failed_attempts', 1)
local att = redis.call('HINCRBY', tk(id), 'att', 1)
redis.call('HSET', tk(id), 'err', A.message)
if not A.retryable or att >= tonumber(hget(id, 'max')) then
  dead_letter(id, from)
  return reply({ outcome = 'dead' })
end
local r = CFG.retry
local backoff = r.initial * (r.multiplier ^ (att - 1))
if backoff ~= backoff or backoff >= r.max then backoff = r.max end
backoff = math.floor(backoff * (A.factor or 1))
local due = NOW + math.max(backoff, A.retry_after)
make_waiting_until(id, from, 'failed', due)
return reply({ outcome = 'retrying', att = att, due = fmt(due) })

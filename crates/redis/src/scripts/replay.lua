-- Puts dead letters back as pending with fresh attempts. A = { ids = [...] }.
for _, id in ipairs(A.ids) do
  local status = hget(id, 'status')
  if not status then return fail('not_found', { task = id }) end
  if status ~= 'dead_letter' then return fail('not_dead', { task = id, from = status }) end
end
for _, id in ipairs(A.ids) do
  redis.call('ZREM', B .. 'dead', id)
  redis.call('HSET', tk(id), 'att', 0)
  redis.call('HDEL', tk(id), 'dead', 'finished')
  make_pending(id, 'dead_letter')
end
return reply({})

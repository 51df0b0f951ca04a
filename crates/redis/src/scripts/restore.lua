-- (Re)writes task records as they are, rebuilding every index. A = { tasks = [ { fields =
-- [flat field/value list], lkeys } ] }. A task already present is replaced.
local blocked = {}
for _, t in ipairs(A.tasks) do
  local f = {}
  for i = 1, #t.fields, 2 do f[t.fields[i]] = t.fields[i + 1] end
  local id = f.id
  remove_task(id)
  redis.call('HSET', tk(id), unpack(t.fields))
  redis.call('HSET', tk(id), 'level', f.pri, 'unmet', 0)
  redis.call('ZADD', B .. 'seq', f.seq, id)
  if f.group then redis.call('ZADD', B .. 'g:' .. f.group, f.seq, id) end
  if f.idem then redis.call('HSET', B .. 'idem', f.idem, id) end
  local status = f.status
  if QUEUED[status] then redis.call('HINCRBY', META, 'queued', 1) end
  if status == 'pending' then
    redis.call('HSET', tk(id), 'status', 'blocked')
    make_pending(id, 'blocked')
    redis.call('HSET', tk(id), 'updated', f.updated)
  elseif status == 'scheduled' or status == 'failed' then
    redis.call('ZADD', B .. 'timers', f.due, id)
  elseif status == 'assigned' or status == 'running' then
    redis.call('ZADD', B .. 'leases', f.expires, id)
    redis.call('HINCRBY', B .. 'load', f.assignee, 1)
    redis.call('HSET', tk(id), 'lkeys', t.lkeys)
  elseif status == 'dead_letter' then
    redis.call('ZADD', B .. 'dead', f.dead, id)
  elseif status == 'completed' or status == 'cancelled' then
    redis.call('ZADD', B .. 'fin', f.finished, id)
  elseif status == 'blocked' then
    table.insert(blocked, id)
  end
end
for _, id in ipairs(blocked) do
  local unmet = 0
  for d in string.gmatch(hget(id, 'deps') or '', '[^,]+') do
    local st = hget(d, 'status')
    if st and st ~= 'completed' then
      redis.call('SADD', B .. 'deps:' .. d, id)
      unmet = unmet + 1
    end
  end
  redis.call('HSET', tk(id), 'unmet', unmet)
end
return reply({})

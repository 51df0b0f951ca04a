-- Enqueues a batch of one tenant's tasks, all or none (see QueueStore::enqueue_batch).
-- A = { dry = bool, tasks = [ { id, pri (-1: inherit), payload, caps, keys, lane, max, sched,
--       deps = [ids], parent, idem, group, seq } ] } (absent optionals are '').
local created, idems, added = {}, {}, 0
local function known(id) return created[id] or redis.call('EXISTS', tk(id)) == 1 end
for _, t in ipairs(A.tasks) do
  local skip = false
  if t.idem ~= '' then
    if redis.call('HEXISTS', B .. 'idem', t.idem) == 1 or idems[t.idem] then
      skip = true
    else
      idems[t.idem] = true
    end
  end
  if not skip then
    if known(t.id) then return fail('already_exists', { task = t.id }) end
    for _, d in ipairs(t.deps) do
      if not known(d) then return fail('unknown_dependency', { task = t.id, other = d }) end
    end
    if t.parent ~= '' and (t.parent == t.id or not known(t.parent)) then
      return fail('unknown_parent', { task = t.id, other = t.parent })
    end
    created[t.id] = true
    added = added + 1
  end
end
local limit = num(redis.call('HGET', META, 'max_queued'))
if limit and (num(redis.call('HGET', META, 'queued')) or 0) + added > limit then
  return fail('queue_full', { limit = limit })
end
if A.dry then return reply({ out = {} }) end

local out = {}
for _, t in ipairs(A.tasks) do
  local existing = t.idem ~= '' and redis.call('HGET', B .. 'idem', t.idem)
  if existing then
    table.insert(out, { id = existing, status = hget(existing, 'status'),
      pri = tonumber(hget(existing, 'pri')), dedup = true })
  else
    local id = t.id
    local pri = t.pri
    if pri < 0 then
      pri = (t.parent ~= '' and num(hget(t.parent, 'pri'))) or CFG.default_pri
    end
    local unmet, doomed = 0, nil
    for _, d in ipairs(t.deps) do
      local st = hget(d, 'status')
      if st == 'cancelled' or st == 'dead_letter' then
        doomed = doomed or { d, st }
      elseif st ~= 'completed' then
        unmet = unmet + 1
      end
    end
    local fields = { 'id', id, 'tenant', CFG.tenant, 'pri', pri, 'level', pri, 'status', 'blocked',
      'payload', t.payload, 'caps', t.caps, 'keys', t.keys, 'lane', t.lane, 'att', 0,
      'max', t.max, 'seq', t.seq, 'created', fmt(NOW), 'updated', fmt(NOW),
      'deps', table.concat(t.deps, ','), 'unmet', unmet }
    for _, opt in ipairs({ 'parent', 'idem', 'group', 'sched' }) do
      if t[opt] ~= '' then
        table.insert(fields, opt)
        table.insert(fields, t[opt])
      end
    end
    redis.call('HSET', tk(id), unpack(fields))
    redis.call('HINCRBY', META, 'queued', 1)
    redis.call('ZADD', B .. 'seq', t.seq, id)
    if t.group ~= '' then redis.call('ZADD', B .. 'g:' .. t.group, t.seq, id) end
    if t.idem ~= '' then redis.call('HSET', B .. 'idem', t.idem, id) end
    redis.call('HINCRBY', B .. 'stats', 'enqueued', 1)
    if doomed then
      finish_cancelled(id, 'blocked', 'dependency ' .. doomed[1] .. ' is ' .. doomed[2])
    elseif unmet > 0 then
      for _, d in ipairs(t.deps) do
        if hget(d, 'status') ~= 'completed' then redis.call('SADD', B .. 'deps:' .. d, id) end
      end
    else
      local sched = num(t.sched)
      if sched and sched > NOW then
        make_waiting_until(id, 'blocked', 'scheduled', sched)
      else
        make_pending(id, 'blocked')
      end
    end
    table.insert(out, { id = id, status = hget(id, 'status'), pri = pri, dedup = false })
  end
end
return reply({ out = out })

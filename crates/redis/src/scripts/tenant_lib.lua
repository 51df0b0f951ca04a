-- Shared helpers of every per-tenant queue script (prepended to each one).
-- KEYS[1] is the tenant's key prefix `<prefix>:{<tenant>}:`; every key a script touches is
-- KEYS[1] followed by a suffix, so all of them share the tenant's hash tag (one slot).
-- ARGV[1] = now (microseconds since the epoch), ARGV[2] = store config (JSON),
-- ARGV[3] = the operation's arguments (JSON).
local B = KEYS[1]
local NOW = tonumber(ARGV[1])
local CFG = cjson.decode(ARGV[2])
if CFG.aging == cjson.null then CFG.aging = nil end
local A = cjson.decode(ARGV[3])
local META = B .. 'meta'
local RELEASED = {}

local QUEUED = { pending = true, blocked = true, scheduled = true, failed = true }

local function fmt(n) return string.format('%.0f', n) end
local function tk(id) return B .. 't:' .. id end
local function hget(id, f) return redis.call('HGET', tk(id), f) end
local function num(v)
  if v == false or v == nil or v == '' then return nil end
  return tonumber(v)
end

local function set_status(id, from, to)
  if QUEUED[from] and not QUEUED[to] then
    redis.call('HINCRBY', META, 'queued', -1)
  elseif QUEUED[to] and not QUEUED[from] then
    redis.call('HINCRBY', META, 'queued', 1)
  end
  redis.call('HSET', tk(id), 'status', to, 'updated', fmt(NOW))
end

local function lane_key(level, lane) return B .. 'lane:' .. level .. ':' .. lane end
local function heads_key(level) return B .. 'heads:' .. level end

-- Puts a pending task at its place in its lane.
local function push(id)
  local f = redis.call('HMGET', tk(id), 'level', 'lane', 'seq')
  local seq = tonumber(f[3])
  redis.call('ZADD', lane_key(f[1], f[2]), seq, id)
  local head = redis.call('ZSCORE', heads_key(f[1]), f[2])
  if not head or tonumber(head) > seq then
    redis.call('ZADD', heads_key(f[1]), seq, f[2])
  end
  redis.call('HINCRBY', META, 'c' .. f[1], 1)
end

-- Takes a pending task out of its lane.
local function unpush(id)
  local f = redis.call('HMGET', tk(id), 'level', 'lane')
  local lk = lane_key(f[1], f[2])
  if redis.call('ZREM', lk, id) == 1 then
    local first = redis.call('ZRANGE', lk, 0, 0, 'WITHSCORES')
    if #first == 0 then
      redis.call('ZREM', heads_key(f[1]), f[2])
    else
      redis.call('ZADD', heads_key(f[1]), first[2], f[2])
    end
    redis.call('HINCRBY', META, 'c' .. f[1], -1)
  end
  local aging = hget(id, 'aging')
  if aging then
    redis.call('ZREM', B .. 'aging', id)
    redis.call('HDEL', tk(id), 'aging')
  end
end

local function make_pending(id, from)
  set_status(id, from, 'pending')
  redis.call('ZREM', B .. 'timers', id)
  local pri = tonumber(hget(id, 'pri'))
  redis.call('HSET', tk(id), 'level', pri)
  redis.call('HDEL', tk(id), 'due', 'aging')
  redis.call('ZREM', B .. 'aging', id)
  if CFG.aging and pri > 0 then
    local at = NOW + CFG.aging
    redis.call('HSET', tk(id), 'aging', fmt(at))
    redis.call('ZADD', B .. 'aging', at, id)
  end
  push(id)
end

local function make_waiting_until(id, from, status, due)
  set_status(id, from, status)
  redis.call('HSET', tk(id), 'due', fmt(due))
  redis.call('ZADD', B .. 'timers', due, id)
end

local function dependents_of(id)
  local key = B .. 'deps:' .. id
  local list = redis.call('SMEMBERS', key)
  redis.call('DEL', key)
  table.sort(list)
  return list
end

-- Cancels, transitively, every task still blocked on `id`, which ended as `status`.
local function cascade(id, status)
  local work = {}
  for _, d in ipairs(dependents_of(id)) do table.insert(work, { d, id, status }) end
  while #work > 0 do
    local item = table.remove(work)
    local d = item[1]
    if hget(d, 'status') == 'blocked' then
      set_status(d, 'blocked', 'cancelled')
      redis.call('HSET', tk(d), 'err', 'dependency ' .. item[2] .. ' is ' .. item[3],
        'finished', fmt(NOW))
      redis.call('ZADD', B .. 'fin', NOW, d)
      for _, dd in ipairs(dependents_of(d)) do table.insert(work, { dd, d, 'cancelled' }) end
    end
  end
end

local function finish_cancelled(id, from, reason)
  set_status(id, from, 'cancelled')
  redis.call('HSET', tk(id), 'err', reason, 'finished', fmt(NOW))
  redis.call('HDEL', tk(id), 'due', 'dead')
  redis.call('ZREM', B .. 'timers', id)
  redis.call('ZADD', B .. 'fin', NOW, id)
  cascade(id, 'cancelled')
end

local function dead_letter(id, from)
  set_status(id, from, 'dead_letter')
  redis.call('HSET', tk(id), 'dead', fmt(NOW), 'finished', fmt(NOW))
  redis.call('ZADD', B .. 'dead', NOW, id)
  redis.call('HINCRBY', B .. 'stats', 'dead_lettered', 1)
  cascade(id, 'dead_letter')
end

-- After `id` completed: dependents whose last dependency it was become due or scheduled.
local function unblock(id)
  for _, d in ipairs(dependents_of(id)) do
    if hget(d, 'status') == 'blocked' then
      local unmet = redis.call('HINCRBY', tk(d), 'unmet', -1)
      if unmet <= 0 then
        local sched = num(hget(d, 'sched'))
        if sched and sched > NOW then
          make_waiting_until(d, 'blocked', 'scheduled', sched)
        else
          make_pending(d, 'blocked')
        end
      end
    end
  end
end

-- Why `fence` is not the live lease of task `id`, or nil when it is.
local function refusal(id, fence)
  if redis.call('EXISTS', tk(id)) == 0 then return 'not_found' end
  local f = redis.call('HMGET', tk(id), 'fence', 'expires')
  if not f[1] then return 'not_leased' end
  if f[1] ~= fence then return 'superseded' end
  if NOW >= tonumber(f[2]) then return 'expired' end
  return nil
end

-- Ends a task's lease: unindexes it, gives back the agent's load once, and reports the limit
-- keys to uncount. Returns the agent that held it.
local function end_lease(id)
  local f = redis.call('HMGET', tk(id), 'assignee', 'lkeys')
  redis.call('HDEL', tk(id), 'assignee', 'fence', 'expires', 'lkeys')
  redis.call('ZREM', B .. 'leases', id)
  if redis.call('HINCRBY', B .. 'load', f[1], -1) <= 0 then
    redis.call('HDEL', B .. 'load', f[1])
  end
  if f[2] and f[2] ~= '' then table.insert(RELEASED, f[2]) end
  return f[1]
end

-- Recovers a lease that expired or whose agent was lost: counts a failed attempt.
local function recover(id, reason)
  local from = hget(id, 'status')
  local agent = end_lease(id)
  if hget(id, 'cancel') then
    finish_cancelled(id, from, 'cancelled while leased')
  else
    redis.call('HINCRBY', B .. 'stats', 'failed_attempts', 1)
    local att = redis.call('HINCRBY', tk(id), 'att', 1)
    redis.call('HSET', tk(id), 'err', reason)
    if att >= tonumber(hget(id, 'max')) then
      dead_letter(id, from)
    else
      make_pending(id, from)
    end
  end
  return { task = id, agent = agent, status = hget(id, 'status') }
end

-- Deletes a task and every index entry it has.
local function remove_task(id)
  local f = redis.call('HMGET', tk(id), 'status', 'seq', 'group', 'idem')
  if not f[1] then return false end
  local status = f[1]
  if status == 'pending' then unpush(id) end
  if status == 'assigned' or status == 'running' then end_lease(id) end
  for _, index in ipairs({ 'timers', 'dead', 'fin', 'aging', 'seq' }) do
    redis.call('ZREM', B .. index, id)
  end
  if f[3] then redis.call('ZREM', B .. 'g:' .. f[3], id) end
  if f[4] and redis.call('HGET', B .. 'idem', f[4]) == id then
    redis.call('HDEL', B .. 'idem', f[4])
  end
  redis.call('DEL', B .. 'deps:' .. id)
  if QUEUED[status] then redis.call('HINCRBY', META, 'queued', -1) end
  redis.call('DEL', tk(id))
  return true
end

local function record(id) return redis.call('HGETALL', tk(id)) end

-- What the fleet-wide rotation knows of the tenant: due tasks per level, and the next time
-- something becomes due or ages.
local function fleet_state()
  local c = redis.call('HMGET', META, 'c0', 'c1', 'c2', 'c3')
  local wake = nil
  for _, index in ipairs({ 'timers', 'aging' }) do
    local first = redis.call('ZRANGE', B .. index, 0, 0, 'WITHSCORES')
    if #first > 0 and (wake == nil or tonumber(first[2]) < wake) then wake = tonumber(first[2]) end
  end
  return {
    c = { tonumber(c[1]) or 0, tonumber(c[2]) or 0, tonumber(c[3]) or 0, tonumber(c[4]) or 0 },
    wake = wake and fmt(wake) or '',
  }
end

-- The tenant's summary for the fleet-wide rotation: its state and a new version.
local function summary()
  local state = fleet_state()
  state.v = redis.call('HINCRBY', META, 'version', 1)
  return state
end

local function reply(out)
  out.sum = summary()
  out.release = RELEASED
  return cjson.encode(out)
end

-- As reply, without a summary when the fleet state is still `before` (nothing to sync).
local function reply_since(out, before)
  local now = fleet_state()
  local same = now.wake == before.wake
  for i = 1, 4 do same = same and now.c[i] == before.c[i] end
  if not same then
    now.v = redis.call('HINCRBY', META, 'version', 1)
    out.sum = now
  end
  out.release = RELEASED
  return cjson.encode(out)
end

local function fail(kind, fields)
  fields = fields or {}
  fields.err = kind
  return reply(fields)
end

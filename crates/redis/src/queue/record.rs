//! A task as a Redis hash: [`TaskRecord`] to field/value pairs and back.
//!
//! Times are microseconds since the epoch (exact in Lua's doubles); lists are comma-joined
//! (no id, capability or limit key may hold a comma); JSON bodies are kept as text the scripts
//! never parse.

use std::collections::HashMap;
use std::sync::Arc;

use godel_queue::{
    AgentId, Capabilities, LimitKey, Payload, Priority, TaskId, TaskRecord, TenantId,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::RedisFailure;

/// Microseconds since the epoch.
pub(crate) fn micros(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos().div_euclid(1000)).unwrap_or(i64::MAX)
}

/// The instant `us` microseconds after the epoch.
pub(crate) fn from_micros(us: i64) -> Result<OffsetDateTime, RedisFailure> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .map_err(|e| RedisFailure::new("decode time", e))
}

/// Microseconds in a duration (saturating).
pub(crate) fn duration_micros(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// The lane of tasks that need `capabilities` and `keys`: `caps|keys`, each sorted and
/// comma-joined, so tasks with the same requirements share one FIFO lane.
pub(crate) fn lane_of(capabilities: &Capabilities, keys: &[LimitKey]) -> String {
    let mut keys: Vec<&str> = keys.iter().map(LimitKey::as_str).collect();
    keys.sort_unstable();
    keys.dedup();
    format!(
        "{}|{}",
        join(capabilities.iter().map(|c| c.as_str())),
        keys.join(",")
    )
}

/// The requirements a lane stands for.
pub(crate) fn parse_lane(lane: &str) -> Result<(Capabilities, Vec<LimitKey>), RedisFailure> {
    let (caps, keys) = lane.split_once('|').unwrap_or((lane, ""));
    let capabilities =
        Capabilities::parse(split(caps)).map_err(|e| RedisFailure::new("decode lane", e))?;
    let keys = split(keys)
        .map(LimitKey::parse)
        .collect::<Result<_, _>>()
        .map_err(|e| RedisFailure::new("decode lane", e))?;
    Ok((capabilities, keys))
}

pub(crate) fn join<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.collect::<Vec<_>>().join(",")
}

pub(crate) fn split(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').filter(|s| !s.is_empty())
}

/// The hash fields of `record` (what `restore` writes).
pub(crate) fn to_fields(record: &TaskRecord) -> Vec<(String, String)> {
    let mut f: Vec<(&str, String)> = vec![
        ("id", record.id.to_string()),
        ("tenant", record.tenant.to_string()),
        ("pri", record.priority.rank().to_string()),
        ("status", record.status.as_str().to_owned()),
        (
            "payload",
            serde_json::to_string(&record.payload).unwrap_or_default(),
        ),
        ("caps", join(record.capabilities.iter().map(|c| c.as_str()))),
        ("keys", join(record.limit_keys.iter().map(LimitKey::as_str))),
        ("lane", lane_of(&record.capabilities, &record.limit_keys)),
        ("att", record.attempt_count.to_string()),
        ("max", record.max_attempts.to_string()),
        ("seq", record.seq.to_string()),
        ("created", micros(record.created_at).to_string()),
        ("updated", micros(record.updated_at).to_string()),
        (
            "deps",
            record
                .depends_on
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(","),
        ),
    ];
    let times = [
        ("due", record.due_at),
        ("started", record.started_at),
        ("finished", record.finished_at),
        ("dead", record.dead_lettered_at),
        ("expires", record.lease_expires_at),
    ];
    for (name, at) in times {
        if let Some(at) = at {
            f.push((name, micros(at).to_string()));
        }
    }
    let optional = [
        (
            "assignee",
            record.assignee.as_ref().map(ToString::to_string),
        ),
        ("fence", record.lease_fence.map(|v| v.to_string())),
        ("cancel", record.cancel_requested.then(|| "1".to_owned())),
        ("err", record.last_error.as_deref().map(str::to_owned)),
        (
            "result",
            record
                .result
                .as_ref()
                .map(|r| serde_json::to_string(r).unwrap_or_default()),
        ),
        ("parent", record.parent_id.map(|p| p.to_string())),
        ("idem", record.idempotency_key.as_deref().map(str::to_owned)),
        ("group", record.group.map(|g| g.to_string())),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            f.push((name, value));
        }
    }
    f.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// A record from its hash fields.
pub(crate) fn from_fields(f: &HashMap<String, String>) -> Result<TaskRecord, RedisFailure> {
    let bad = |field: &'static str| {
        RedisFailure::new("decode task", format!("bad or missing field {field}"))
    };
    let get = |field: &'static str| f.get(field).map(String::as_str).filter(|v| !v.is_empty());
    let req = |field: &'static str| get(field).ok_or_else(|| bad(field));
    let int = |field: &'static str| -> Result<i64, RedisFailure> {
        req(field)?.parse::<i64>().map_err(|_| bad(field))
    };
    let time = |field: &'static str| -> Result<Option<OffsetDateTime>, RedisFailure> {
        match get(field) {
            None => Ok(None),
            Some(v) => from_micros(v.parse::<i64>().map_err(|_| bad(field))?).map(Some),
        }
    };
    let id_of = |field: &'static str| -> Result<Option<TaskId>, RedisFailure> {
        get(field)
            .map(|v| TaskId::parse(v).map_err(|_| bad(field)))
            .transpose()
    };
    let rank = usize::try_from(int("pri")?).map_err(|_| bad("pri"))?;
    let json = |field: &'static str| -> Result<Option<Payload>, RedisFailure> {
        get(field)
            .map(|v| serde_json::from_str::<Payload>(v).map_err(|_| bad(field)))
            .transpose()
    };
    Ok(TaskRecord {
        id: TaskId::parse(req("id")?).map_err(|_| bad("id"))?,
        tenant: TenantId::parse(req("tenant")?).map_err(|_| bad("tenant"))?,
        priority: *Priority::ALL.get(rank).ok_or_else(|| bad("pri"))?,
        status: req("status")?.parse().map_err(|_| bad("status"))?,
        payload: json("payload")?.unwrap_or_default(),
        capabilities: Capabilities::parse(split(get("caps").unwrap_or("")))
            .map_err(|_| bad("caps"))?,
        limit_keys: split(get("keys").unwrap_or(""))
            .map(LimitKey::parse)
            .collect::<Result<Arc<[_]>, _>>()
            .map_err(|_| bad("keys"))?,
        attempt_count: u32::try_from(int("att")?).map_err(|_| bad("att"))?,
        max_attempts: u32::try_from(int("max")?).map_err(|_| bad("max"))?,
        seq: u64::try_from(int("seq")?).map_err(|_| bad("seq"))?,
        created_at: time("created")?.ok_or_else(|| bad("created"))?,
        updated_at: time("updated")?.ok_or_else(|| bad("updated"))?,
        due_at: time("due")?,
        started_at: time("started")?,
        finished_at: time("finished")?,
        dead_lettered_at: time("dead")?,
        assignee: get("assignee")
            .map(|a| AgentId::parse(a).map_err(|_| bad("assignee")))
            .transpose()?,
        lease_fence: get("fence")
            .map(|v| v.parse::<u64>().map_err(|_| bad("fence")))
            .transpose()?,
        lease_expires_at: time("expires")?,
        cancel_requested: get("cancel") == Some("1"),
        last_error: get("err").map(Arc::from),
        result: json("result")?,
        depends_on: split(get("deps").unwrap_or(""))
            .map(|d| TaskId::parse(d).map_err(|_| bad("deps")))
            .collect::<Result<Arc<[_]>, _>>()?,
        parent_id: id_of("parent")?,
        idempotency_key: get("idem").map(Arc::from),
        group: get("group")
            .map(|g| Uuid::parse_str(g).map_err(|_| bad("group")))
            .transpose()?,
    })
}

/// A record from a flat `[field, value, ...]` list (a script's `HGETALL`).
pub(crate) fn from_flat(flat: &[serde_json::Value]) -> Result<TaskRecord, RedisFailure> {
    let map = flat
        .chunks(2)
        .filter_map(|pair| match pair {
            [k, v] => Some((k.as_str()?.to_owned(), v.as_str()?.to_owned())),
            _ => None,
        })
        .collect();
    from_fields(&map)
}

//! Paging shared by the lists: `limit` (default 20, at most 100), opaque cursors (base64url of
//! a tagged position, so a cursor of one list is refused by another), the common filters
//! (`status`, `priority`, `agent_id`, `team_id`, and `filter`, a JSON object of the same).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use godel_engine::Page;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Items on a page unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 20;
/// Most items on a page.
pub const MAX_LIMIT: usize = 100;

/// Query parameters of the lists.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Items per page (1 to 100, default 20).
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Order: `created_at` (default) or `-created_at` (newest first).
    pub sort: Option<String>,
    /// Only these statuses (comma-separated).
    pub status: Option<String>,
    /// Only this priority (`critical`, `high`, `medium`, `low`).
    pub priority: Option<String>,
    /// Only this agent's.
    pub agent_id: Option<String>,
    /// Only this team's.
    pub team_id: Option<String>,
    /// The same filters as a JSON object, e.g. `{"status":["pending"],"priority":"high"}`.
    pub filter: Option<String>,
    /// `ndjson` to export every matching item as JSON lines (dead letters only).
    pub format: Option<String>,
}

/// The `filter` JSON object.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilterObject {
    #[serde(default)]
    status: Option<StringOrList>,
    #[serde(default)]
    priority: Option<String>,
    #[serde(default)]
    agent_id: Option<String>,
    #[serde(default)]
    team_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StringOrList {
    One(String),
    Many(Vec<String>),
}

/// The filters of a list request, merged from the parameters and `filter` (parameters win).
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// Status names.
    pub status: Vec<String>,
    /// Priority name.
    pub priority: Option<String>,
    /// Agent id.
    pub agent_id: Option<String>,
    /// Team id.
    pub team_id: Option<String>,
}

impl ListParams {
    /// The page size.
    ///
    /// # Errors
    /// 400 outside 1 to 100.
    pub fn limit(&self) -> Result<usize, ApiError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
            Some(_) => Err(ApiError::invalid("limit: must be 1 to 100")),
        }
    }

    /// Whether newest first was asked for.
    ///
    /// # Errors
    /// 400 for a sort this list does not offer.
    pub fn newest_first(&self) -> Result<bool, ApiError> {
        match self.sort.as_deref() {
            None | Some("created_at") => Ok(false),
            Some("-created_at") => Ok(true),
            Some(other) => Err(ApiError::invalid(format!(
                "sort: {other:?} is not offered; use created_at or -created_at"
            ))),
        }
    }

    /// The merged filters.
    ///
    /// # Errors
    /// 400 for a malformed `filter`.
    pub fn filters(&self) -> Result<Filters, ApiError> {
        let object: FilterObject = match &self.filter {
            None => FilterObject::default(),
            Some(raw) => {
                serde_json::from_str(raw).map_err(|e| ApiError::invalid(format!("filter: {e}")))?
            }
        };
        let status = match &self.status {
            Some(s) => s
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
            None => match object.status {
                Some(StringOrList::One(s)) => vec![s],
                Some(StringOrList::Many(v)) => v,
                None => Vec::new(),
            },
        };
        Ok(Filters {
            status,
            priority: self.priority.clone().or(object.priority),
            agent_id: self.agent_id.clone().or(object.agent_id),
            team_id: self.team_id.clone().or(object.team_id),
        })
    }

    /// Refuses what list `what` cannot do: a `sort`, `format` or filters outside `allowed`.
    ///
    /// # Errors
    /// 400 naming the parameter.
    pub fn only(&self, what: &str, allowed: &[&str]) -> Result<Filters, ApiError> {
        let filters = self.filters()?;
        let used = [
            ("status", !filters.status.is_empty()),
            ("priority", filters.priority.is_some()),
            ("agent_id", filters.agent_id.is_some()),
            ("team_id", filters.team_id.is_some()),
            ("sort", self.sort.is_some()),
            ("format", self.format.is_some()),
        ];
        for (name, set) in used {
            if set && !allowed.contains(&name) {
                return Err(ApiError::invalid(format!(
                    "{name}: not a parameter of {what}"
                )));
            }
        }
        Ok(filters)
    }
}

/// Parses a filter value as the enum or id `T` by its JSON string form.
///
/// # Errors
/// 400 naming `field`.
pub fn parse_value<T: DeserializeOwned>(field: &str, value: &str) -> Result<T, ApiError> {
    serde_json::from_value(serde_json::Value::String(value.to_owned()))
        .map_err(|e| ApiError::invalid(format!("{field}: {e}")))
}

/// An opaque cursor for position `value` of list `kind`.
#[must_use]
pub fn encode_cursor(kind: &str, value: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{value}"))
}

/// The position in an opaque cursor of list `kind`.
///
/// # Errors
/// 400 when it is not a cursor of this list.
pub fn decode_cursor(kind: &str, cursor: &str) -> Result<String, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix(&format!("{kind}:")).map(str::to_owned))
        .ok_or_else(|| ApiError::invalid("cursor: not a cursor of this list"))
}

/// Pages a list held whole in memory, ordered by `key`: items after the cursor's key.
///
/// # Errors
/// 400 for a bad cursor or limit.
pub fn page_in_memory<T>(
    kind: &str,
    mut all: Vec<T>,
    params: &ListParams,
    key: impl Fn(&T) -> String,
) -> Result<Page<T>, ApiError> {
    let limit = params.limit()?;
    let after = params
        .cursor
        .as_deref()
        .map(|c| decode_cursor(kind, c))
        .transpose()?;
    all.sort_by_key(&key);
    let total = all.len() as u64;
    let mut rest: Vec<T> = match after {
        Some(after) => all.into_iter().filter(|t| key(t) > after).collect(),
        None => all,
    };
    let more = rest.len() > limit;
    rest.truncate(limit);
    let next_cursor = if more {
        rest.last().map(|t| encode_cursor(kind, &key(t)))
    } else {
        None
    };
    Ok(Page {
        items: rest,
        next_cursor,
        total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_are_bound_to_their_list() {
        let c = encode_cursor("task", "42");
        assert_eq!(decode_cursor("task", &c).unwrap(), "42");
        assert!(decode_cursor("session", &c).is_err());
        assert!(decode_cursor("task", "!!!").is_err());
    }

    #[test]
    fn in_memory_pages_follow_the_cursor() {
        let params = ListParams {
            limit: Some(2),
            ..ListParams::default()
        };
        let page = page_in_memory("n", vec![3, 1, 2], &params, |n| n.to_string()).unwrap();
        assert_eq!((page.items.clone(), page.total), (vec![1, 2], 3));
        let next = ListParams {
            limit: Some(2),
            cursor: page.next_cursor,
            ..ListParams::default()
        };
        let page = page_in_memory("n", vec![3, 1, 2], &next, |n| n.to_string()).unwrap();
        assert_eq!((page.items, page.next_cursor), (vec![3], None));
    }
}

//! Tolerant decoding of shapes the contract leaves open: a listing sent as a bare array or as
//! a page object, counts by priority sent as an array or as an object.

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::model::{Listing, PriorityCounts};

impl<'de, T: DeserializeOwned> Deserialize<'de> for Listing<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let (items, next_cursor, total) = match value {
            Value::Array(items) => (Value::Array(items), None, None),
            Value::Object(mut map) => {
                let items = map
                    .remove("items")
                    .or_else(|| map.remove("data"))
                    .ok_or_else(|| D::Error::missing_field("items"))?;
                let next_cursor = match map.remove("next_cursor") {
                    Some(Value::String(s)) => Some(s),
                    _ => None,
                };
                let total = map.remove("total").and_then(|t| t.as_u64());
                (items, next_cursor, total)
            }
            other => {
                return Err(D::Error::custom(format!(
                    "expected a list or a page object, got {other}"
                )));
            }
        };
        let items: Vec<T> = serde_json::from_value(items).map_err(D::Error::custom)?;
        let total = total.unwrap_or(items.len() as u64);
        Ok(Self {
            items,
            next_cursor,
            total,
        })
    }
}

impl<'de> Deserialize<'de> for PriorityCounts {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let count = |v: Option<&Value>| v.and_then(Value::as_u64).unwrap_or(0);
        match &value {
            Value::Array(a) if a.len() <= 4 => Ok(Self {
                critical: count(a.first()),
                high: count(a.get(1)),
                medium: count(a.get(2)),
                low: count(a.get(3)),
            }),
            Value::Object(m) => Ok(Self {
                critical: count(m.get("critical")),
                high: count(m.get("high")),
                medium: count(m.get("medium")),
                low: count(m.get("low")),
            }),
            Value::Null => Ok(Self::default()),
            other => Err(D::Error::custom(format!(
                "expected counts by priority (an array of 4 or an object), got {other}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_accept_arrays_and_pages() {
        let bare: Listing<u32> = serde_json::from_str("[1,2,3]").unwrap();
        assert_eq!((bare.items.as_slice(), bare.total), (&[1, 2, 3][..], 3));
        let page: Listing<u32> =
            serde_json::from_str(r#"{"items":[4],"next_cursor":"c","total":9}"#).unwrap();
        assert_eq!(page.items, vec![4]);
        assert_eq!(page.next_cursor.as_deref(), Some("c"));
        assert_eq!(page.total, 9);
        assert!(serde_json::from_str::<Listing<u32>>(r#"{"nope":1}"#).is_err());
        assert!(serde_json::from_str::<Listing<u32>>(r#"["x"]"#).is_err());
    }

    #[test]
    fn priority_counts_accept_arrays_and_objects() {
        let a: PriorityCounts = serde_json::from_str("[1,2,3,4]").unwrap();
        let o: PriorityCounts =
            serde_json::from_str(r#"{"critical":1,"high":2,"medium":3,"low":4}"#).unwrap();
        assert_eq!(a, o);
        assert_eq!(a.total(), 10);
        assert!(serde_json::from_str::<PriorityCounts>("\"x\"").is_err());
    }
}

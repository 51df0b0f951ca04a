//! How values become columns: times as unix nanoseconds, limits as SQLite integers, records as
//! JSON text.

use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

/// `t` as unix nanoseconds, clamped to what `i64` holds (1677 to 2262). Only ordering uses
/// the typed time columns; the exact value is kept in each row's JSON record.
pub(crate) fn unix_nanos(t: OffsetDateTime) -> i64 {
    let nanos = t.unix_timestamp_nanos();
    i64::try_from(nanos).unwrap_or(if nanos < 0 { i64::MIN } else { i64::MAX })
}

/// The time of a typed column written by [`unix_nanos`]; `None` when out of `OffsetDateTime`'s
/// range (a row written by something else).
pub(crate) fn from_unix_nanos(nanos: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos)).ok()
}

/// A page size as a `LIMIT` operand (a limit beyond `i64::MAX` is no limit).
pub(crate) fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// A record as the JSON text of a `record` column.
pub(crate) fn to_json<T: Serialize>(record: &T) -> Result<String, serde_json::Error> {
    serde_json::to_string(record)
}

/// A record from the JSON text of a `record` column.
pub(crate) fn from_json<T: DeserializeOwned>(text: &str) -> Result<T, serde_json::Error> {
    serde_json::from_str(text)
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn times_are_nanoseconds_and_clamp_outside_i64() {
        assert_eq!(unix_nanos(datetime!(1970-01-01 0:00:01 UTC)), 1_000_000_000);
        assert_eq!(
            unix_nanos(datetime!(1969-12-31 23:59:59 UTC)),
            -1_000_000_000
        );
        assert_eq!(unix_nanos(datetime!(9999-01-01 0:00 UTC)), i64::MAX);
        assert_eq!(unix_nanos(datetime!(-9999-01-01 0:00 UTC)), i64::MIN);
    }

    #[test]
    fn nanoseconds_read_back_as_the_time() {
        let t = datetime!(2026-01-01 12:34:56.123_456_789 UTC);
        assert_eq!(from_unix_nanos(unix_nanos(t)), Some(t));
    }

    #[test]
    fn limits_saturate() {
        assert_eq!(sql_limit(0), 0);
        assert_eq!(sql_limit(usize::MAX), i64::MAX);
    }
}

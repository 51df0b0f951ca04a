//! W3C `traceparent` values for request frames: the caller's when valid, else a fresh one.

use uuid::Uuid;

/// The `traceparent` to send: `given` when it is a well-formed W3C trace context, else a fresh
/// one (version 00, random trace and span ids, sampled).
pub(crate) fn traceparent(given: Option<&str>) -> String {
    match given {
        Some(tp) if is_valid(tp) => tp.to_owned(),
        _ => fresh(),
    }
}

/// A new trace context.
pub(crate) fn fresh() -> String {
    // v7 ids carry 74 random bits (with `fast-rng`) and are never zero.
    let trace = Uuid::now_v7().simple().to_string();
    // The low 64 bits of a v7 id are random apart from the two variant bits.
    #[allow(clippy::cast_possible_truncation)]
    let span = (Uuid::now_v7().as_u128() as u64) | 1;
    format!("00-{trace}-{span:016x}-01")
}

/// `00-<32 hex>-<16 hex>-<2 hex>`, lowercase, ids not all zero, version not `ff`.
pub(crate) fn is_valid(tp: &str) -> bool {
    let parts: Vec<&str> = tp.split('-').collect();
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let nonzero = |s: &str| s.bytes().any(|b| b != b'0');
    match parts.as_slice() {
        [version, trace, span, flags] => {
            hex(version, 2)
                && *version != "ff"
                && hex(trace, 32)
                && nonzero(trace)
                && hex(span, 16)
                && nonzero(span)
                && hex(flags, 2)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_ones_are_valid_and_distinct() {
        let (a, b) = (fresh(), fresh());
        assert!(is_valid(&a), "{a}");
        assert_ne!(a, b);
        assert_eq!(a.len(), 55);
    }

    #[test]
    fn a_valid_given_one_is_kept_and_an_invalid_one_replaced() {
        let given = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(traceparent(Some(given)), given);
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        ] {
            assert!(!is_valid(bad), "{bad}");
            assert_ne!(traceparent(Some(bad)), bad);
        }
    }
}

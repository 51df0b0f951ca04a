//! UUID identifiers of the things Godel creates: sessions, instances, teams, events, API keys
//! and audit entries.
//!
//! Tenants, tasks and agents use the queue's identifiers (re-exported from the crate root).

use std::fmt;
use std::str::FromStr;

use godel_queue::ParseError;
use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

/// Declares a UUID newtype with `generate`, `parse`, `Display`, `FromStr` and serde as a string.
macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered (v7) id.
            #[must_use]
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps an existing UUID.
            #[must_use]
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// A deterministic id from a number, for tests and examples.
            #[must_use]
            pub const fn from_u128(n: u128) -> Self {
                Self(Uuid::from_u128(n))
            }

            /// The UUID inside.
            #[must_use]
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }

            /// Parses the hyphenated (or simple) UUID form.
            ///
            /// # Errors
            /// A [`ParseError`] naming the kind of id when `s` is not a UUID.
            pub fn parse(s: &str) -> Result<Self, ParseError> {
                Uuid::parse_str(s)
                    .map(Self)
                    .map_err(|_| ParseError::new($kind, s, "expected a UUID"))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = ParseError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

uuid_id!(
    /// One conversation/run context on an agent (an OpenClaw session key is derived from it).
    SessionId,
    "session id"
);
uuid_id!(
    /// One OpenClaw gateway process registered with Godel.
    InstanceId,
    "instance id"
);
uuid_id!(
    /// A group of related tasks, e.g. those created by one `godel do` intent.
    TeamId,
    "team id"
);
uuid_id!(
    /// A saved point of a session's state, to resume or migrate from.
    CheckpointId,
    "checkpoint id"
);
uuid_id!(
    /// A service-account API key (its secret is never stored, only its SHA-256).
    ApiKeyId,
    "api key id"
);
uuid_id!(
    /// One entry of the security audit log; time-ordered like events.
    AuditId,
    "audit id"
);
uuid_id!(
    /// One domain event; time-ordered, so sorting by id sorts by emission.
    EventId,
    "event id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text_and_json() {
        let id = SessionId::generate();
        assert_eq!(SessionId::parse(&id.to_string()).unwrap(), id);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<SessionId>(&json).unwrap(), id);
    }

    #[test]
    fn a_bad_id_names_its_kind() {
        let err = InstanceId::parse("gw-1").unwrap_err();
        assert_eq!(err.kind(), "instance id");
        assert!(err.to_string().contains("gw-1"), "{err}");
        assert!(serde_json::from_str::<TeamId>("\"nope\"").is_err());
    }

    #[test]
    fn generated_ids_are_time_ordered() {
        let a = EventId::generate();
        let b = EventId::generate();
        assert!(a < b);
    }
}

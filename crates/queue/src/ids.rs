//! Identifiers: task ids, and validated names for tenants, agents, capabilities and limit keys.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

use crate::error::ParseError;

/// A task's identity: a UUID, time-ordered (v7) when generated here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(Uuid);

impl TaskId {
    /// A fresh, time-ordered id.
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

    /// Parses the hyphenated UUID form.
    ///
    /// # Errors
    /// [`ParseError`] when `s` is not a UUID.
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        Uuid::parse_str(s)
            .map(Self)
            .map_err(|_| ParseError::new("task id", s, "expected a UUID"))
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for TaskId {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Longest accepted name, in bytes.
pub const MAX_NAME_LEN: usize = 128;

/// Checks a name: 1 to [`MAX_NAME_LEN`] bytes of ASCII letters, digits and `. _ - : @ /`.
fn validate_name(kind: &'static str, s: &str) -> Result<(), ParseError> {
    if s.is_empty() {
        return Err(ParseError::new(kind, s, "must not be empty"));
    }
    if s.len() > MAX_NAME_LEN {
        return Err(ParseError::new(kind, s, "longer than 128 bytes"));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._-:@/".contains(*c)))
    {
        return Err(ParseError::new(
            kind,
            s,
            format!("contains {c:?}; allowed are ASCII letters, digits and . _ - : @ /"),
        ));
    }
    Ok(())
}

/// Declares a cheaply clonable, validated name type.
macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Validates and wraps a name.
            ///
            /// # Errors
            /// [`ParseError`] when the name is empty, longer than 128 bytes, or holds a
            /// character other than ASCII letters, digits and `. _ - : @ /`.
            pub fn parse(s: &str) -> Result<Self, ParseError> {
                validate_name($kind, s)?;
                Ok(Self(Arc::from(s)))
            }

            /// The name as text.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&*self.0, f)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = ParseError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
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

name_type!(
    /// The isolation boundary a task belongs to; also the unit of fair sharing.
    TenantId,
    "tenant id"
);
name_type!(
    /// A worker identity that claims tasks (an OpenClaw agent, for Godel).
    AgentId,
    "agent id"
);
name_type!(
    /// Something an agent can do and a task may require (e.g. `rust`, `gpu`).
    Capability,
    "capability"
);
name_type!(
    /// A key that concurrency and rate limits are counted under, such as `provider:openai`,
    /// `instance:gw-1` or `agent:a1`. Every task also counts under its tenant's key
    /// ([`LimitKey::tenant`]).
    LimitKey,
    "limit key"
);

impl LimitKey {
    /// The key a tenant's running tasks are counted under: `tenant:<id>`.
    #[must_use]
    pub fn tenant(tenant: &TenantId) -> Self {
        Self(Arc::from(format!("tenant:{tenant}")))
    }
}

/// A set of capabilities, kept sorted and without duplicates; cheap to clone.
#[derive(Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "Vec<Capability>", into = "Vec<Capability>")]
pub struct Capabilities(Arc<[Capability]>);

impl Capabilities {
    /// The empty set: required by tasks that any agent can run.
    #[must_use]
    pub fn none() -> Self {
        Self::default()
    }

    /// Parses a list of names into a set.
    ///
    /// # Errors
    /// [`ParseError`] naming the first invalid capability.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, ParseError> {
        names
            .into_iter()
            .map(Capability::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(Self::from)
    }

    /// Whether every capability of `self` is in `other`.
    #[must_use]
    pub fn is_subset_of(&self, other: &Self) -> bool {
        if self.0.len() > other.0.len() {
            return false;
        }
        let mut theirs = other.0.iter();
        self.0.iter().all(|c| theirs.any(|o| o == c))
    }

    /// Whether `capability` is in the set.
    #[must_use]
    pub fn contains(&self, capability: &str) -> bool {
        self.0
            .binary_search_by(|c| c.as_str().cmp(capability))
            .is_ok()
    }

    /// The capabilities, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &Capability> {
        self.0.iter()
    }

    /// How many capabilities the set holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<Capability>> for Capabilities {
    fn from(mut v: Vec<Capability>) -> Self {
        v.sort();
        v.dedup();
        Self(v.into())
    }
}

impl From<Capabilities> for Vec<Capability> {
    fn from(c: Capabilities) -> Self {
        c.0.to_vec()
    }
}

impl FromIterator<Capability> for Capabilities {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> Self {
        Self::from(iter.into_iter().collect::<Vec<_>>())
    }
}

impl fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(names: &[&str]) -> Capabilities {
        Capabilities::parse(names.iter().copied()).unwrap()
    }

    #[test]
    fn names_refuse_empty_long_and_odd_characters() {
        assert!(TenantId::parse("acme-corp.eu:1").is_ok());
        assert!(TenantId::parse("").is_err());
        assert!(TenantId::parse(&"x".repeat(129)).is_err());
        let err = AgentId::parse("a b").unwrap_err();
        assert!(err.to_string().contains("agent id"), "{err}");
    }

    #[test]
    fn names_are_validated_when_deserialized() {
        assert!(serde_json::from_str::<TenantId>("\"acme\"").is_ok());
        assert!(serde_json::from_str::<TenantId>("\"ac me\"").is_err());
    }

    #[test]
    fn capability_sets_are_sorted_and_deduplicated() {
        let set = caps(&["rust", "gpu", "rust"]);
        assert_eq!(set.len(), 2);
        assert_eq!(set, caps(&["gpu", "rust"]));
        assert!(set.contains("gpu") && !set.contains("go"));
    }

    #[test]
    fn subset_checks_every_required_capability() {
        let agent = caps(&["gpu", "python", "rust"]);
        assert!(Capabilities::none().is_subset_of(&agent));
        assert!(caps(&["python", "rust"]).is_subset_of(&agent));
        assert!(!caps(&["go", "rust"]).is_subset_of(&agent));
        assert!(!agent.is_subset_of(&caps(&["rust"])));
    }

    #[test]
    fn tenant_limit_key_is_derived_from_the_tenant() {
        let t = TenantId::parse("acme").unwrap();
        assert_eq!(LimitKey::tenant(&t).as_str(), "tenant:acme");
    }

    #[test]
    fn task_ids_parse_and_generated_ids_are_time_ordered() {
        let a = TaskId::generate();
        let b = TaskId::generate();
        assert!(a < b);
        assert_eq!(TaskId::parse(&a.to_string()).unwrap(), a);
        assert!(TaskId::parse("nope").is_err());
    }
}

//! Event-name patterns of the `/events` subscriptions: a glob where `*` matches any run of
//! characters (dots included) and every other character matches itself. `task.*`, `*.failed`,
//! `*` and `task.completed` are patterns; there are no other special characters.
//!
//! Matching allocates nothing and takes at most `O(pattern × name)` steps, so it is safe on
//! arbitrary input (a fuzz target drives it).

use std::fmt;

/// Longest pattern accepted, in bytes.
pub const MAX_PATTERN_LEN: usize = 128;

/// Whether `name` matches `pattern` (`*` is any run of characters, including none).
#[must_use]
pub fn matches(pattern: &str, name: &str) -> bool {
    let (p, s) = (pattern.as_bytes(), name.as_bytes());
    let (mut pi, mut si) = (0, 0);
    // The last `*` seen, and where in `name` its current run ends.
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, si));
                pi += 1;
            }
            Some(&c) if c == s[si] => {
                pi += 1;
                si += 1;
            }
            _ => match star {
                // Let the last `*` swallow one more character and retry after it.
                Some((at, end)) => {
                    pi = at + 1;
                    si = end + 1;
                    star = Some((at, end + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// A validated subscription pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pattern(String);

/// Why a pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatternError {
    /// The pattern is empty.
    #[error("a pattern cannot be empty")]
    Empty,
    /// The pattern is longer than [`MAX_PATTERN_LEN`].
    #[error("pattern is {0} bytes long; at most {MAX_PATTERN_LEN} are allowed")]
    TooLong(usize),
    /// The pattern holds a character no event name has.
    #[error(
        "pattern {pattern:?}: {found:?} is not allowed (letters, digits, '.', '_', '-' and '*' are)"
    )]
    BadCharacter {
        /// The pattern, cut to [`MAX_PATTERN_LEN`].
        pattern: String,
        /// The first character refused.
        found: char,
    },
}

impl Pattern {
    /// Checks `text`: 1 to [`MAX_PATTERN_LEN`] bytes of ASCII letters, digits, `.`, `_`, `-`
    /// and `*`.
    ///
    /// # Errors
    /// [`PatternError`] saying what is wrong.
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        if text.is_empty() {
            return Err(PatternError::Empty);
        }
        if text.len() > MAX_PATTERN_LEN {
            return Err(PatternError::TooLong(text.len()));
        }
        if let Some(found) = text
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '*')))
        {
            return Err(PatternError::BadCharacter {
                pattern: text.to_owned(),
                found,
            });
        }
        Ok(Self(text.to_owned()))
    }

    /// Whether the event named `name` matches.
    #[must_use]
    pub fn matches(&self, name: &str) -> bool {
        matches(&self.0, name)
    }

    /// The pattern as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use godel_types::EventName;
    use proptest::prelude::*;

    /// A plain recursive matcher over any symbols, obviously right and exponential: the
    /// reference (on bytes, or on characters).
    fn reference<T: PartialEq + Star>(p: &[T], s: &[T]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some((c, rest)) if c.is_star() => (0..=s.len()).any(|i| reference(rest, &s[i..])),
            Some((c, rest)) => s.first() == Some(c) && reference(rest, &s[1..]),
        }
    }

    /// The `*` of a symbol alphabet.
    trait Star {
        fn is_star(&self) -> bool;
    }

    impl Star for u8 {
        fn is_star(&self) -> bool {
            *self == b'*'
        }
    }

    impl Star for char {
        fn is_star(&self) -> bool {
            *self == '*'
        }
    }

    #[test]
    fn the_patterns_of_the_contract_match_as_documented() {
        assert!(matches("task.*", "task.completed"));
        assert!(matches("task.*", "task."));
        assert!(!matches("task.*", "agent.connected"));
        assert!(!matches("task.*", "task"));
        assert!(matches("*.failed", "task.failed"));
        assert!(!matches("*.failed", "task.failed.later"));
        assert!(matches("*", "session.state_change"));
        assert!(matches("*", ""));
        assert!(matches("task.completed", "task.completed"));
        assert!(!matches("task.completed", "task.completes"));
        assert!(!matches("task.complete", "task.completed"));
        assert!(matches("t*.*d", "task.completed"));
        assert!(matches("**", "x.y"));
        assert!(!matches("", "task.created"));
        assert!(matches("", ""));
    }

    #[test]
    fn a_star_spans_dots() {
        assert!(matches("*created", "task.created"));
        assert!(matches("a*z", "a.b.c.z"));
        assert!(!matches("a*z", "a.b.c.y"));
    }

    #[test]
    fn every_contract_name_matches_its_family_and_no_other() {
        for name in EventName::all() {
            let name = name.as_str();
            let (family, _) = name.split_once('.').unwrap();
            for other in ["task", "agent", "session", "instance", "system"] {
                assert_eq!(
                    matches(&format!("{other}.*"), name),
                    other == family,
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn parse_refuses_empty_long_and_odd_patterns() {
        assert_eq!(Pattern::parse(""), Err(PatternError::Empty));
        let long = "a".repeat(MAX_PATTERN_LEN + 1);
        assert_eq!(
            Pattern::parse(&long),
            Err(PatternError::TooLong(MAX_PATTERN_LEN + 1))
        );
        assert!(Pattern::parse(&"a".repeat(MAX_PATTERN_LEN)).is_ok());
        assert!(matches!(
            Pattern::parse("task.?"),
            Err(PatternError::BadCharacter { found: '?', .. })
        ));
        assert!(matches!(
            Pattern::parse("tâsk.*"),
            Err(PatternError::BadCharacter { found: 'â', .. })
        ));
        let p = Pattern::parse("task.*").unwrap();
        assert!(p.matches("task.failed"));
        assert_eq!(p.to_string(), "task.*");
    }

    proptest! {
        #[test]
        fn a_name_with_one_segment_replaced_by_a_star_still_matches(
            segments in prop::collection::vec("[a-z_]{0,8}", 1..5),
            which in any::<prop::sample::Index>(),
        ) {
            let name = segments.join(".");
            let mut pattern = segments.clone();
            pattern[which.index(segments.len())] = "*".to_owned();
            prop_assert!(matches(&pattern.join("."), &name));
            prop_assert!(matches(&name, &name));
        }

        #[test]
        fn matching_agrees_with_the_reference(pattern in "[ab.*]{0,10}", name in "[ab.]{0,12}") {
            prop_assert_eq!(
                matches(&pattern, &name),
                reference(pattern.as_bytes(), name.as_bytes())
            );
        }

        /// Byte-wise matching is character-wise matching: UTF-8 never lets a `*` stop inside
        /// a character and a literal match there.
        #[test]
        fn matching_unicode_agrees_with_a_character_reference(
            pattern in "[aé✓.*]{0,10}",
            name in "[aé✓.]{0,12}",
        ) {
            let p: Vec<char> = pattern.chars().collect();
            let n: Vec<char> = name.chars().collect();
            prop_assert_eq!(matches(&pattern, &name), reference(&p, &n));
        }

        /// Long names and star-heavy patterns (the costly shape for backtracking matchers)
        /// still give the right answer: a run of stars matches anything that ends right.
        #[test]
        fn star_heavy_patterns_on_long_names_answer_right(
            stars in 1..=MAX_PATTERN_LEN / 2,
            body in "[a.]{0,64}",
            repeat in 1..200usize,
            last in prop::sample::select(vec!['a', 'b']),
        ) {
            let name = format!("{}{last}", body.repeat(repeat));
            let pattern = format!("{}b", "*".repeat(stars));
            prop_assert_eq!(matches(&pattern, &name), last == 'b');
            prop_assert!(matches(&"*".repeat(MAX_PATTERN_LEN), &name));
        }

        #[test]
        fn matching_never_panics_on_arbitrary_text(pattern in any::<String>(), name in any::<String>()) {
            let _ = matches(&pattern, &name);
            let _ = Pattern::parse(&pattern).map(|p| p.matches(&name));
        }
    }
}

//! The messages of the `/events` protocol and one connection's subscriptions. Pure: no I/O, so
//! every answer to every client message is tested here.

use godel_types::Event;
use serde::{Deserialize, Serialize};

use super::MAX_PATTERNS;
use super::pattern::Pattern;

/// What a client may send.
#[derive(Debug, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
enum ClientMessage {
    /// Adds patterns to the connection's set.
    Subscribe { patterns: Vec<String> },
    /// Removes patterns from the connection's set.
    Unsubscribe { patterns: Vec<String> },
}

/// What the server sends, as JSON text frames.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ServerFrame<'a> {
    /// Acknowledges a subscribe with the whole current set.
    Subscribed { patterns: Vec<&'a str> },
    /// Acknowledges an unsubscribe with the whole current set.
    Unsubscribed { patterns: Vec<&'a str> },
    /// A message the server could not act on; the connection stays open.
    Error { message: String },
    /// An event: its JSON form (`id`, `tenant_id`, `timestamp`, `event`, `data`) plus `type`.
    Event(&'a Event),
}

impl ServerFrame<'_> {
    /// The frame as JSON text.
    pub(crate) fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| {
            // Only a bug can make these types fail to serialize; say so rather than panic.
            tracing::error!(error = %e, "websocket frame did not serialize");
            r#"{"type":"error","message":"internal error"}"#.to_owned()
        })
    }
}

/// The patterns one connection subscribed to, in the order first subscribed, without repeats.
#[derive(Debug, Default)]
pub(crate) struct Subscriptions {
    patterns: Vec<Pattern>,
}

impl Subscriptions {
    /// Whether an event named `name` should be sent.
    pub(crate) fn wants(&self, name: &str) -> bool {
        self.patterns.iter().any(|p| p.matches(name))
    }

    /// Acts on one text message from the client and returns the reply to send.
    pub(crate) fn handle(&mut self, text: &str) -> String {
        match serde_json::from_str::<ClientMessage>(text) {
            Ok(ClientMessage::Subscribe { patterns }) => match self.subscribe(&patterns) {
                Ok(()) => ServerFrame::Subscribed {
                    patterns: self.current(),
                },
                Err(message) => ServerFrame::Error { message },
            },
            Ok(ClientMessage::Unsubscribe { patterns }) => {
                self.patterns
                    .retain(|p| !patterns.iter().any(|q| q == p.as_str()));
                ServerFrame::Unsubscribed {
                    patterns: self.current(),
                }
            }
            Err(e) => ServerFrame::Error {
                message: format!(
                    "invalid message ({e}); expected {{\"action\":\"subscribe\"|\"unsubscribe\",\"patterns\":[...]}}"
                ),
            },
        }
        .to_text()
    }

    /// Adds every pattern of `texts`, or none of them when one is invalid or the set would
    /// grow past [`MAX_PATTERNS`].
    fn subscribe(&mut self, texts: &[String]) -> Result<(), String> {
        let mut added = Vec::new();
        for text in texts {
            let pattern = Pattern::parse(text).map_err(|e| e.to_string())?;
            if !self.patterns.contains(&pattern) && !added.contains(&pattern) {
                if self.patterns.len() + added.len() >= MAX_PATTERNS {
                    return Err(format!(
                        "at most {MAX_PATTERNS} patterns per connection; unsubscribe some first"
                    ));
                }
                added.push(pattern);
            }
        }
        self.patterns.extend(added);
        Ok(())
    }

    fn current(&self) -> Vec<&str> {
        self.patterns.iter().map(Pattern::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use godel_types::{EventBody, EventId, SystemEvent, SystemEventKind, TenantId};
    use serde_json::{Value, json};
    use time::macros::datetime;

    fn reply(subs: &mut Subscriptions, message: Value) -> Value {
        serde_json::from_str(&subs.handle(&message.to_string())).unwrap()
    }

    #[test]
    fn subscribe_acks_the_whole_set_without_repeats() {
        let mut subs = Subscriptions::default();
        let r = reply(
            &mut subs,
            json!({"action": "subscribe", "patterns": ["task.*", "agent.*"]}),
        );
        assert_eq!(
            r,
            json!({"type": "subscribed", "patterns": ["task.*", "agent.*"]})
        );
        let r = reply(
            &mut subs,
            json!({"action": "subscribe", "patterns": ["task.*", "*.failed", "*.failed"]}),
        );
        assert_eq!(
            r,
            json!({"type": "subscribed", "patterns": ["task.*", "agent.*", "*.failed"]})
        );
        assert!(subs.wants("task.created"));
        assert!(subs.wants("session.failed"));
        assert!(!subs.wants("session.opened"));
    }

    #[test]
    fn unsubscribe_removes_and_acks_what_is_left() {
        let mut subs = Subscriptions::default();
        reply(
            &mut subs,
            json!({"action": "subscribe", "patterns": ["task.*", "agent.*"]}),
        );
        let r = reply(
            &mut subs,
            json!({"action": "unsubscribe", "patterns": ["task.*", "never.*"]}),
        );
        assert_eq!(r, json!({"type": "unsubscribed", "patterns": ["agent.*"]}));
        assert!(!subs.wants("task.created"));
        assert!(subs.wants("agent.status"));
    }

    #[test]
    fn bad_messages_get_an_error_and_change_nothing() {
        let mut subs = Subscriptions::default();
        reply(
            &mut subs,
            json!({"action": "subscribe", "patterns": ["task.*"]}),
        );
        for bad in [
            "not json".to_owned(),
            json!({"action": "dance"}).to_string(),
            json!({"action": "subscribe"}).to_string(),
            json!({"action": "subscribe", "patterns": "task.*"}).to_string(),
            json!({"action": "subscribe", "patterns": ["ok.*", ""]}).to_string(),
            json!({"action": "subscribe", "patterns": ["a b"]}).to_string(),
            json!({"action": "subscribe", "patterns": ["x".repeat(500)]}).to_string(),
            json!({"action": "subscribe", "patterns": [], "extra": 1}).to_string(),
        ] {
            let r: Value = serde_json::from_str(&subs.handle(&bad)).unwrap();
            assert_eq!(r["type"], "error", "{bad}");
            assert!(r["message"].as_str().is_some_and(|m| !m.is_empty()));
        }
        assert_eq!(subs.current(), ["task.*"]);
    }

    #[test]
    fn the_pattern_count_is_capped_and_an_over_cap_request_adds_nothing() {
        let mut subs = Subscriptions::default();
        let first: Vec<String> = (0..MAX_PATTERNS - 1).map(|i| format!("p{i}.*")).collect();
        let r = reply(&mut subs, json!({"action": "subscribe", "patterns": first}));
        assert_eq!(r["type"], "subscribed");
        let r = reply(
            &mut subs,
            json!({"action": "subscribe", "patterns": ["new.*", "other.*"]}),
        );
        assert_eq!(r["type"], "error");
        assert_eq!(subs.current().len(), MAX_PATTERNS - 1);
        // Patterns already present do not count again.
        let r = reply(
            &mut subs,
            json!({"action": "subscribe", "patterns": ["p0.*", "new.*"]}),
        );
        assert_eq!(r["type"], "subscribed");
        assert_eq!(subs.current().len(), MAX_PATTERNS);
    }

    #[test]
    fn an_event_frame_is_the_event_json_plus_its_type() {
        let event = Event {
            id: EventId::from_u128(1),
            tenant: Some(TenantId::parse("acme").unwrap()),
            at: datetime!(2026-01-01 0:00 UTC),
            body: EventBody::System(
                SystemEventKind::Alert,
                SystemEvent {
                    message: "disk".into(),
                },
            ),
        };
        let frame: Value = serde_json::from_str(&ServerFrame::Event(&event).to_text()).unwrap();
        let mut expected = serde_json::to_value(&event).unwrap();
        expected["type"] = json!("event");
        assert_eq!(frame, expected);
        assert_eq!(frame["event"], "system.alert");
        assert_eq!(frame["data"]["message"], "disk");
    }
}

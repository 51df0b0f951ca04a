//! Properties of the frame decoder, on generated input:
//!
//! - arbitrary text, arbitrary JSON values, JSON objects built from the frame keys, and
//!   mutated well-formed frames never make `decode` (nor the typing of event payloads) panic;
//! - text that is not JSON, or JSON that is not an object, is `Malformed`;
//! - well-formed request, response and event frames decode to what was encoded (requests
//!   through the crate's own `Request::encode`, responses and events through [`wire`], the
//!   gateway's wire form as the decoder's module documents it);
//! - whatever decodes is canonical: encoding the decoded frame and decoding again gives it back;
//! - a frame with a required key removed, an unknown key added, a key of another frame type
//!   added, or an id over 256 bytes is refused.

use godel_openclaw::protocol::{
    ErrorShape, Event, Frame, GatewayEvent, ProtocolError, Request, Response, decode,
};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value, json};

/// Longest id, method or event name the decoder accepts, in bytes.
const MAX_NAME_LEN: usize = 256;
/// The top-level keys of the three frames.
const FRAME_KEYS: &[&str] = &[
    "type",
    "id",
    "method",
    "params",
    "traceparent",
    "ok",
    "payload",
    "error",
    "event",
    "seq",
    "stateVersion",
];

/// Encodes frames the way the gateway does (and the simulator's `frames` module does).
mod wire {
    use super::{ErrorShape, Event, Frame, Response};
    use serde_json::{Map, Value, json};

    /// The `error` object of a failed response.
    fn error(shape: &ErrorShape) -> Value {
        let mut error = Map::new();
        error.insert("code".into(), json!(shape.code));
        error.insert("message".into(), json!(shape.message));
        if let Some(details) = &shape.details {
            error.insert("details".into(), details.clone());
        }
        if let Some(retryable) = shape.retryable {
            error.insert("retryable".into(), json!(retryable));
        }
        if let Some(ms) = shape.retry_after_ms {
            error.insert("retryAfterMs".into(), json!(ms));
        }
        Value::Object(error)
    }

    fn response(response: &Response) -> Value {
        let mut frame = Map::new();
        frame.insert("type".into(), json!("res"));
        frame.insert("id".into(), json!(response.id));
        match &response.outcome {
            Ok(payload) => {
                frame.insert("ok".into(), json!(true));
                frame.insert("payload".into(), payload.clone());
            }
            Err(shape) => {
                frame.insert("ok".into(), json!(false));
                frame.insert("error".into(), error(shape));
                if let Some(payload) = &shape.payload {
                    frame.insert("payload".into(), payload.clone());
                }
            }
        }
        Value::Object(frame)
    }

    fn event(event: &Event) -> Value {
        let mut frame = Map::new();
        frame.insert("type".into(), json!("event"));
        frame.insert("event".into(), json!(event.event));
        frame.insert("payload".into(), event.payload.clone());
        if let Some(seq) = event.seq {
            frame.insert("seq".into(), json!(seq));
        }
        if let Some(version) = &event.state_version {
            frame.insert("stateVersion".into(), version.clone());
        }
        Value::Object(frame)
    }

    /// Any frame as JSON text; requests through the crate's own encoder.
    pub(super) fn encode(frame: &Frame) -> String {
        match frame {
            Frame::Request(request) => request.encode().expect("a Value always serialises"),
            Frame::Response(r) => response(r).to_string(),
            Frame::Event(e) => event(e).to_string(),
        }
    }
}

/// JSON numbers that survive a text round trip exactly (integers and quarters).
fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<i32>().prop_map(|n| Value::from(f64::from(n) / 4.0)),
    ]
}

/// Any JSON value: unicode strings, control characters, nesting up to a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A JSON value other than `null` (an optional key holding `null` decodes as absent).
fn non_null_value() -> impl Strategy<Value = Value> {
    json_value().prop_filter("not null", |v| !v.is_null())
}

/// A JSON object.
fn json_object() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(any::<String>(), json_value(), 0..6)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

/// An id, method or event name: 1 to 64 arbitrary characters, so at most 256 bytes.
fn name() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 1..=64).prop_map(String::from_iter)
}

fn request() -> impl Strategy<Value = Request> {
    (
        name(),
        name(),
        prop_oneof![Just(Value::Null), json_object()],
        prop::option::of(any::<String>()),
    )
        .prop_map(|(id, method, params, traceparent)| Request {
            id,
            method,
            params,
            traceparent,
        })
}

fn error_shape() -> impl Strategy<Value = ErrorShape> {
    (
        any::<String>(),
        any::<String>(),
        prop::option::of(non_null_value()),
        prop::option::of(any::<bool>()),
        prop::option::of(any::<u64>()),
        prop::option::of(non_null_value()),
    )
        .prop_map(
            |(code, message, details, retryable, retry_after_ms, payload)| ErrorShape {
                code,
                message,
                details,
                retryable,
                retry_after_ms,
                payload,
            },
        )
}

fn response() -> impl Strategy<Value = Response> {
    let outcome = prop_oneof![json_value().prop_map(Ok), error_shape().prop_map(Err),];
    (name(), outcome).prop_map(|(id, outcome)| Response { id, outcome })
}

fn event() -> impl Strategy<Value = Event> {
    (
        name(),
        json_value(),
        prop::option::of(any::<u64>()),
        prop::option::of(non_null_value()),
    )
        .prop_map(|(event, payload, seq, state_version)| Event {
            event,
            payload,
            seq,
            state_version,
        })
}

/// A well-formed frame of any of the three types.
fn frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        request().prop_map(Frame::Request),
        response().prop_map(Frame::Response),
        event().prop_map(Frame::Event),
    ]
}

/// Keys a frame of this type must have.
fn required_keys(frame: &Frame) -> &'static [&'static str] {
    match frame {
        Frame::Request(_) => &["type", "id", "method"],
        Frame::Response(Response { outcome: Ok(_), .. }) => &["type", "id", "ok"],
        Frame::Response(Response {
            outcome: Err(_), ..
        }) => &["type", "id", "ok", "error"],
        Frame::Event(_) => &["type", "event"],
    }
}

/// Frame keys a frame of this type must not have.
fn foreign_keys(frame: &Frame) -> &'static [&'static str] {
    match frame {
        Frame::Request(_) => &["ok", "payload", "error", "event", "seq", "stateVersion"],
        Frame::Response(_) => &[
            "method",
            "params",
            "traceparent",
            "event",
            "seq",
            "stateVersion",
        ],
        Frame::Event(_) => &["id", "method", "params", "traceparent", "ok", "error"],
    }
}

/// The frame's JSON object.
fn object_of(frame: &Frame) -> Map<String, Value> {
    match serde_json::from_str(&wire::encode(frame)) {
        Ok(Value::Object(map)) => map,
        other => panic!("a frame encodes to an object, got {other:?}"),
    }
}

/// Decodes `text` and types an event's payload as the client does: neither may panic.
fn decode_all_the_way(text: &str) -> Result<Frame, ProtocolError> {
    let frame = decode(text)?;
    if let Frame::Event(event) = &frame {
        let _ = GatewayEvent::from_event(event.clone());
    }
    Ok(frame)
}

/// What a frame that decoded must satisfy: bounded, non-empty names; params an object or null.
fn assert_well_formed(frame: &Frame) -> Result<(), TestCaseError> {
    let names: Vec<&str> = match frame {
        Frame::Request(r) => {
            prop_assert!(r.params.is_object() || r.params.is_null());
            vec![&r.id, &r.method]
        }
        Frame::Response(r) => vec![&r.id],
        Frame::Event(e) => vec![&e.event],
    };
    for name in names {
        prop_assert!(!name.is_empty() && name.len() <= MAX_NAME_LEN, "{name:?}");
    }
    Ok(())
}

/// One edit of a byte string: overwrite, insert or remove at a position.
#[derive(Debug, Clone)]
enum Edit {
    Set(Index, u8),
    Insert(Index, u8),
    Remove(Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<Index>(), any::<u8>()).prop_map(|(at, b)| Edit::Set(at, b)),
        (any::<Index>(), any::<u8>()).prop_map(|(at, b)| Edit::Insert(at, b)),
        any::<Index>().prop_map(Edit::Remove),
    ]
}

fn apply(bytes: &mut Vec<u8>, edit: &Edit) {
    match edit {
        Edit::Set(at, b) if !bytes.is_empty() => {
            let at = at.index(bytes.len());
            bytes[at] = *b;
        }
        Edit::Insert(at, b) => {
            let at = at.index(bytes.len() + 1);
            bytes.insert(at, *b);
        }
        Edit::Remove(at) if !bytes.is_empty() => {
            let at = at.index(bytes.len());
            bytes.remove(at);
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_text_never_panics_and_non_json_is_malformed(text in any::<String>()) {
        let decoded = decode_all_the_way(&text);
        if serde_json::from_str::<Value>(&text).is_err() {
            prop_assert!(matches!(decoded, Err(ProtocolError::Malformed(_))), "{decoded:?}");
        }
        if let Ok(frame) = decoded {
            assert_well_formed(&frame)?;
        }
    }

    #[test]
    fn arbitrary_json_never_panics_and_non_objects_are_malformed(value in json_value()) {
        let decoded = decode_all_the_way(&value.to_string());
        if !value.is_object() {
            prop_assert!(matches!(decoded, Err(ProtocolError::Malformed(_))), "{decoded:?}");
        }
        if let Ok(frame) = decoded {
            assert_well_formed(&frame)?;
        }
    }

    /// Objects of frame keys with arbitrary values reach every branch of the decoder.
    #[test]
    fn objects_of_frame_keys_never_panic_and_what_decodes_is_canonical(
        kind in prop_oneof![
            Just(json!("req")), Just(json!("res")), Just(json!("event")), json_value()
        ],
        fields in prop::collection::btree_map(
            prop::sample::select(FRAME_KEYS),
            prop_oneof![
                json_value(),
                name().prop_map(Value::String),
                any::<bool>().prop_map(Value::Bool),
                json_object(),
                Just(json!({"code": "UNAVAILABLE", "message": "m"})),
            ],
            0..8,
        ),
    ) {
        let mut object: Map<String, Value> =
            fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        object.insert("type".into(), kind);
        if let Ok(frame) = decode_all_the_way(&Value::Object(object).to_string()) {
            assert_well_formed(&frame)?;
            prop_assert_eq!(decode(&wire::encode(&frame)).ok(), Some(frame));
        }
    }

    #[test]
    fn well_formed_frames_decode_to_what_was_encoded(frame in frame()) {
        let text = wire::encode(&frame);
        prop_assert_eq!(decode_all_the_way(&text).ok(), Some(frame), "{}", text);
    }

    #[test]
    fn requests_round_trip_through_the_crates_encoder(request in request()) {
        let text = request.encode().expect("a Value always serialises");
        prop_assert_eq!(decode(&text).ok(), Some(Frame::Request(request)));
    }

    #[test]
    fn mutated_frames_never_panic(
        frame in frame(),
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        let mut bytes = wire::encode(&frame).into_bytes();
        for edit in &edits {
            apply(&mut bytes, edit);
        }
        if let Ok(decoded) = decode_all_the_way(&String::from_utf8_lossy(&bytes)) {
            assert_well_formed(&decoded)?;
        }
    }

    #[test]
    fn a_frame_without_a_required_key_is_refused(frame in frame(), which in any::<Index>()) {
        let required = required_keys(&frame);
        let key = required[which.index(required.len())];
        let mut object = object_of(&frame);
        object.remove(key);
        prop_assert!(decode(&Value::Object(object).to_string()).is_err(), "without {}", key);
    }

    #[test]
    fn a_frame_with_an_unknown_key_is_refused(
        frame in frame(),
        key in any::<String>().prop_filter("not a frame key", |k| !FRAME_KEYS.contains(&k.as_str())),
        value in json_value(),
    ) {
        let mut object = object_of(&frame);
        object.insert(key.clone(), value);
        let decoded = decode(&Value::Object(object).to_string());
        prop_assert!(matches!(decoded, Err(ProtocolError::Malformed(_))), "with {key:?}: {decoded:?}");
    }

    #[test]
    fn a_frame_with_a_key_of_another_type_is_refused(
        frame in frame(),
        which in any::<Index>(),
        value in non_null_value(),
    ) {
        let foreign = foreign_keys(&frame);
        let key = foreign[which.index(foreign.len())];
        let mut object = object_of(&frame);
        object.insert(key.to_owned(), value);
        prop_assert!(decode(&Value::Object(object).to_string()).is_err(), "with {}", key);
    }

    #[test]
    fn an_overlong_name_is_invalid(frame in frame(), extra in 1..64usize) {
        let long = "x".repeat(MAX_NAME_LEN + extra);
        let mut object = object_of(&frame);
        let key = if matches!(frame, Frame::Event(_)) { "event" } else { "id" };
        object.insert(key.to_owned(), Value::String(long));
        let decoded = decode(&Value::Object(object).to_string());
        prop_assert!(matches!(decoded, Err(ProtocolError::Invalid(_))), "{decoded:?}");
    }
}

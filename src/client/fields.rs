//! Reading the seed's `StreamResponse {Count, Data, error}` out of event data.
//!
//! Field names are configurable (`stream.data_field` …), so serde's derive
//! cannot name them at compile time. Instead a [`DeserializeSeed`] walks the
//! object once, compares each key with the three configured names, borrows
//! string values straight from the event's data when they hold no escapes,
//! and skips every other value without building it. Decoding an event thus
//! allocates nothing in the common case.
//!
//! Before serde runs, `scan` (`fields/scan.rs`) tries the common shape (a flat object of
//! escape-free strings, integers, `true`/`false`/`null`): one pass over the
//! bytes, no visitor, no number rendered and parsed back. Whatever it is not
//! sure of (an escape, a nested value, a float, a count beyond 18 digits,
//! anything malformed) it declines, and serde_json decides: so the answer is
//! always serde_json's, which the property tests below check.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};

mod scan;

/// The configured names of the fields we read, borrowed from the scenario's
/// `[stream]` ([`StreamSpec::field_names`](crate::client::config::StreamSpec::field_names)),
/// which also holds their defaults (`Data`, `Count`, `error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldNames<'n> {
    /// Field holding the event's payload text (`stream.data_field`).
    pub data: &'n str,
    /// Field holding the event's sequence number (`stream.count_field`).
    pub count: &'n str,
    /// Field whose presence (not null) marks a server-sent error (`stream.error_field`).
    pub error: &'n str,
    /// Field holding the server's send time (`stream.timestamp_field`), if any.
    pub timestamp: Option<&'n str>,
}

/// The fields of one JSON event; borrowed from the event's data where possible.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Fields<'a> {
    /// The data field when it is a string; other JSON values are rendered.
    pub data: Option<Cow<'a, str>>,
    /// The count field when it is an integer.
    pub count: Option<i64>,
    /// The error field when present and not null (strings as-is, other values rendered).
    pub error: Option<Cow<'a, str>>,
    /// The timestamp field when it is a number (in the scenario's `timestamp_unit`).
    pub timestamp: Option<f64>,
}

/// Why event data was not the JSON object we expected.
#[derive(Debug, thiserror::Error)]
#[error("event data is not a JSON object: {0}")]
pub struct MalformedEvent(#[source] serde_json::Error);

impl MalformedEvent {
    /// Wraps serde_json's reason (for the other readers of event data).
    pub(crate) fn from_json(err: serde_json::Error) -> MalformedEvent {
        MalformedEvent(err)
    }
}

/// Parses `data` as a JSON object and picks out the configured fields.
///
/// # Errors
/// [`MalformedEvent`] when `data` is not one JSON object (trailing text included).
pub fn parse<'a>(names: FieldNames<'_>, data: &'a str) -> Result<Fields<'a>, MalformedEvent> {
    match scan::fields(names, data) {
        Some(fields) => Ok(fields),
        None => parse_serde(names, data),
    }
}

/// [`parse`] through serde_json alone: the reference the fast scanner is
/// proven equal to, and the path for everything the scanner declines.
fn parse_serde<'a>(names: FieldNames<'_>, data: &'a str) -> Result<Fields<'a>, MalformedEvent> {
    let mut de = serde_json::Deserializer::from_str(data);
    let fields = FieldsSeed(names)
        .deserialize(&mut de)
        .map_err(MalformedEvent)?;
    de.end().map_err(MalformedEvent)?;
    Ok(fields)
}

struct FieldsSeed<'n>(FieldNames<'n>);

impl<'de> DeserializeSeed<'de> for FieldsSeed<'_> {
    type Value = Fields<'de>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FieldsSeed<'_> {
    type Value = Fields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Fields::default();
        while let Some(which) = map.next_key_seed(KeySeed(self.0))? {
            match which {
                Which::Data => out.data = map.next_value::<Text<'de>>()?.0,
                Which::Error => out.error = map.next_value::<Text<'de>>()?.0,
                Which::Count => out.count = map.next_value::<Count>()?.0,
                Which::Timestamp => out.timestamp = map.next_value::<Number>()?.0,
                Which::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(out)
    }
}

enum Which {
    Data,
    Count,
    Error,
    Timestamp,
    Other,
}

struct KeySeed<'n>(FieldNames<'n>);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Which;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Which, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed<'_> {
    type Value = Which;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<Which, E> {
        Ok(if key == self.0.data {
            Which::Data
        } else if key == self.0.count {
            Which::Count
        } else if key == self.0.error {
            Which::Error
        } else if self.0.timestamp == Some(key) {
            Which::Timestamp
        } else {
            Which::Other
        })
    }
}

/// A string value borrowed when possible; null = absent; other JSON rendered.
struct Text<'a>(Option<Cow<'a, str>>);

impl<'de> de::Deserialize<'de> for Text<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Text(Some(Cow::Borrowed(v))))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Text(Some(Cow::Owned(v.to_owned()))))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Text(Some(Cow::Owned(v))))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Text(None))
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Text(None))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Text(Some(Cow::Owned(v.to_string()))))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Text(Some(Cow::Owned(v.to_string()))))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Text(Some(Cow::Owned(v.to_string()))))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Text(Some(Cow::Owned(v.to_string()))))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let value: serde_json::Value =
            de::Deserialize::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        Ok(Text(Some(Cow::Owned(value.to_string()))))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let value: serde_json::Value =
            de::Deserialize::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(Text(Some(Cow::Owned(value.to_string()))))
    }
}

/// An integer count; anything else (including null) is treated as absent.
struct Count(Option<i64>);

impl<'de> de::Deserialize<'de> for Count {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Text::deserialize(d)?;
        Ok(Count(value.0.and_then(|s| s.parse().ok())))
    }
}

/// A JSON number (integer or float); anything else is treated as absent.
/// Read without allocating: other values are skipped.
struct Number(Option<f64>);

impl<'de> de::Deserialize<'de> for Number {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NumberVisitor)
    }
}

struct NumberVisitor;

impl<'de> Visitor<'de> for NumberVisitor {
    type Value = Number;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_i64<E>(self, v: i64) -> Result<Number, E> {
        Ok(Number(Some(v as f64)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Number, E> {
        Ok(Number(Some(v as f64)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Number, E> {
        Ok(Number(v.is_finite().then_some(v)))
    }
    fn visit_str<E>(self, _: &str) -> Result<Number, E> {
        Ok(Number(None))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Number, E> {
        Ok(Number(None))
    }
    fn visit_unit<E>(self) -> Result<Number, E> {
        Ok(Number(None))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Number, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Number(None))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Number, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Number(None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::config::StreamSpec;

    /// [`parse`] with the scenario's default names (`Data`, `Count`, `error`).
    fn parse_default(data: &str) -> Result<Fields<'_>, MalformedEvent> {
        parse(StreamSpec::default().field_names(), data)
    }

    #[test]
    fn seed_events() {
        let f = parse_default(r#"{"Count": 1, "Data": "Event 1"}"#).expect("valid");
        assert_eq!(f.count, Some(1));
        assert_eq!(f.data.as_deref(), Some("Event 1"));
        assert!(
            matches!(f.data, Some(Cow::Borrowed(_))),
            "no escapes: borrowed"
        );
        assert_eq!(f.error, None);

        let f = parse_default(r#"{"Data": "Stream completed"}"#).expect("valid");
        assert_eq!(
            (f.count, f.data.as_deref()),
            (None, Some("Stream completed"))
        );

        let f = parse_default(r#"{"error": "boom"}"#).expect("valid");
        assert_eq!(f.error.as_deref(), Some("boom"));
    }

    #[test]
    fn escapes_nulls_and_other_values() {
        let f =
            parse_default(r#"{"Data": "a\"b", "error": null, "x": [1, {"y": 2}]}"#).expect("valid");
        assert_eq!(f.data.as_deref(), Some("a\"b"));
        assert_eq!(f.error, None, "null error is not an error");
        let f = parse_default(r#"{"Data": {"k": 1}, "error": {"code": 5}, "Count": "7"}"#)
            .expect("valid");
        assert_eq!(f.data.as_deref(), Some(r#"{"k":1}"#));
        assert_eq!(f.error.as_deref(), Some(r#"{"code":5}"#));
        assert_eq!(f.count, Some(7));
    }

    #[test]
    fn custom_names() {
        let n = FieldNames {
            data: "text",
            count: "n",
            error: "err",
            timestamp: Some("ts"),
        };
        let f = parse(n, r#"{"n": 3, "text": "hi", "Data": "ignored"}"#).expect("valid");
        assert_eq!((f.count, f.data.as_deref()), (Some(3), Some("hi")));
        assert_eq!(f.timestamp, None);
        for (data, want) in [
            (
                r#"{"ts": 1700000000123, "n": 1}"#,
                Some(1_700_000_000_123.0),
            ),
            (r#"{"ts": 1.5}"#, Some(1.5)),
            (r#"{"ts": "1700000000123"}"#, None),
            (r#"{"ts": null}"#, None),
            (r#"{"ts": [1, 2], "n": 4}"#, None),
            (r#"{"ts": {"a": 1}}"#, None),
        ] {
            assert_eq!(parse(n, data).expect("valid").timestamp, want, "{data}");
        }
        // Without a configured timestamp field, `ts` is just another field.
        let f = parse_default(r#"{"ts": 5, "Count": 2}"#).expect("valid");
        assert_eq!((f.timestamp, f.count), (None, Some(2)));
    }

    #[test]
    fn malformed() {
        for bad in [
            "",
            "not json",
            "[1,2]",
            "\"str\"",
            "{\"Data\": 1",
            "{} trailing",
            "42",
        ] {
            assert!(parse_default(bad).is_err(), "{bad:?} must be malformed");
        }
    }
}

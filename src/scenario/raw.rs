//! The serde mirror of a scenario file: `Raw*` types, every field optional,
//! nothing validated (ripgrep's "low args").
//!
//! Defaults and checks live in `validate.rs`, in one place, so this file only
//! says which keys exist and what TOML type each has. `deny_unknown_fields`
//! is a backstop: unknown keys are found earlier by the schema walk in
//! `locate.rs`, which uses [`fields_at`] — the field lists serde itself
//! derives from these types, so the walk and serde can never disagree.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

use super::units::{ByteSize, HumanDuration};

/// The whole file.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScenario {
    pub(crate) name: Option<String>,
    pub(crate) target: Option<String>,
    pub(crate) seed: Option<u64>,
    pub(crate) proxy: Option<bool>,
    pub(crate) server: Option<RawServer>,
    pub(crate) request: Option<RawRequest>,
    pub(crate) stream: Option<RawStream>,
    pub(crate) load: Option<RawLoad>,
    pub(crate) retry: Option<RawRetry>,
    pub(crate) breaker: Option<RawBreaker>,
    pub(crate) http: Option<RawHttp>,
    pub(crate) faults: Option<Vec<RawFault>>,
    pub(crate) slo: Option<RawSlo>,
    pub(crate) thresholds: Option<OrderedMap<Condition>>,
}

/// `[slo]`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSlo {
    pub(crate) ttft: Option<HumanDuration>,
    pub(crate) tpot: Option<HumanDuration>,
}

/// `[server]`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    pub(crate) events: Option<u32>,
    pub(crate) interval: Option<HumanDuration>,
    pub(crate) first_event_delay: Option<HumanDuration>,
    pub(crate) payload_bytes: Option<ByteSize>,
    pub(crate) fail_rate: Option<f64>,
    pub(crate) tls: Option<bool>,
    pub(crate) dialect: Option<String>,
    pub(crate) mode: Option<String>,
    pub(crate) rate: Option<f64>,
    pub(crate) replay: Option<u64>,
}

/// `[request]`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRequest {
    pub(crate) method: Option<String>,
    pub(crate) path: Option<String>,
    pub(crate) headers: Option<OrderedMap<String>>,
    pub(crate) body: Option<toml::Value>,
    pub(crate) bodies_file: Option<String>,
}

/// `[stream]`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStream {
    pub(crate) format: Option<String>,
    pub(crate) data_field: Option<String>,
    pub(crate) count_field: Option<String>,
    pub(crate) error_field: Option<String>,
    pub(crate) done: Option<String>,
    pub(crate) first_event_timeout: Option<HumanDuration>,
    pub(crate) idle_timeout: Option<HumanDuration>,
    pub(crate) max_duration: Option<HumanDuration>,
    pub(crate) max_event_size: Option<ByteSize>,
    pub(crate) expect_events: Option<u64>,
    pub(crate) resume: Option<bool>,
    pub(crate) content_field: Option<String>,
    pub(crate) mode: Option<String>,
    pub(crate) hold: Option<HumanDuration>,
    pub(crate) sequence: Option<String>,
    pub(crate) timestamp_field: Option<String>,
    pub(crate) timestamp_unit: Option<String>,
}

/// `[load]`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLoad {
    pub(crate) executor: Option<String>,
    pub(crate) stages: Option<Vec<RawStage>>,
    pub(crate) rate: Option<f64>,
    #[serde(rename = "for")]
    pub(crate) duration: Option<HumanDuration>,
    pub(crate) think_time: Option<HumanDuration>,
    pub(crate) max_sessions: Option<u32>,
    pub(crate) interval: Option<HumanDuration>,
}

/// One `{ for = "30s", to = 100 }`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStage {
    #[serde(rename = "for")]
    pub(crate) duration: HumanDuration,
    pub(crate) to: f64,
}

/// `[retry]`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRetry {
    pub(crate) max_retries: Option<u32>,
    pub(crate) backoff: Option<RawBackoff>,
    pub(crate) honor_retry_after: Option<bool>,
    pub(crate) honor_retry_field: Option<bool>,
    pub(crate) retry_on: Option<Vec<String>>,
}

/// `[retry] backoff = { … }`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBackoff {
    pub(crate) base: Option<HumanDuration>,
    pub(crate) factor: Option<f64>,
    pub(crate) max: Option<HumanDuration>,
    pub(crate) jitter: Option<String>,
}

/// `[breaker]`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBreaker {
    pub(crate) failure_threshold: Option<u32>,
    pub(crate) open_for: Option<HumanDuration>,
    pub(crate) half_open_probes: Option<u32>,
}

/// `[http]`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHttp {
    pub(crate) timeout: Option<HumanDuration>,
    pub(crate) pool_max_idle_per_host: Option<usize>,
    pub(crate) idle_conn_timeout: Option<HumanDuration>,
    pub(crate) insecure_tls: Option<bool>,
    pub(crate) version: Option<RawVersion>,
    pub(crate) share_connections: Option<bool>,
    pub(crate) ca_file: Option<String>,
    pub(crate) client_cert: Option<String>,
    pub(crate) client_key: Option<String>,
    pub(crate) local_addresses: Option<Vec<String>>,
}

/// `[http] version`: `"2"`, or the bare numbers `2` and `1.1` (what
/// `--set http.version=2` and a hand-written file give).
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
pub(crate) enum RawVersion {
    Text(String),
    Integer(i64),
    Float(f64),
}

impl RawVersion {
    pub(crate) fn text(&self) -> String {
        match self {
            RawVersion::Text(text) => text.clone(),
            RawVersion::Integer(n) => n.to_string(),
            RawVersion::Float(x) => x.to_string(),
        }
    }
}

/// One `[[faults]]`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFault {
    pub(crate) at: HumanDuration,
    #[serde(rename = "for")]
    pub(crate) duration: HumanDuration,
    pub(crate) kind: String,
    pub(crate) latency: Option<HumanDuration>,
    pub(crate) status: Option<u16>,
    pub(crate) retry_after: Option<HumanDuration>,
    pub(crate) start: Option<String>,
    pub(crate) end: Option<String>,
}

/// A TOML table kept in file order (toml's own `Table` sorts its keys).
#[derive(Debug)]
pub(crate) struct OrderedMap<V>(pub(crate) Vec<(String, V)>);

impl<V> Default for OrderedMap<V> {
    fn default() -> Self {
        OrderedMap(Vec::new())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for MapVisitor<V> {
            type Value = OrderedMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, V>()? {
                    entries.push(entry);
                }
                Ok(OrderedMap(entries))
            }
        }
        deserializer.deserialize_map(MapVisitor(std::marker::PhantomData))
    }
}

/// A threshold condition string, with an error message that shows the form.
#[derive(Debug)]
pub(crate) struct Condition(pub(crate) String);

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Condition;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a condition string such as \"< 1s\" or \">= 0.99\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Condition(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, _map: A) -> Result<Self::Value, A::Error> {
                Err(de::Error::custom(
                    "a threshold key with dots must be quoted, e.g. \"ttfe.p99\" = \"< 1s\"",
                ))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// The valid keys of the table at `path` (array indices written `*`), or
/// `None` for free-form tables (`request.headers`, `request.body`,
/// `thresholds`) and non-tables.
pub(crate) fn fields_at(path: &[&str]) -> Option<&'static [&'static str]> {
    Some(match path {
        [] => fields_of::<RawScenario>(),
        ["server"] => fields_of::<RawServer>(),
        ["request"] => fields_of::<RawRequest>(),
        ["stream"] => fields_of::<RawStream>(),
        ["load"] => fields_of::<RawLoad>(),
        ["load", "stages", "*"] => fields_of::<RawStage>(),
        ["retry"] => fields_of::<RawRetry>(),
        ["retry", "backoff"] => fields_of::<RawBackoff>(),
        ["breaker"] => fields_of::<RawBreaker>(),
        ["http"] => fields_of::<RawHttp>(),
        ["faults", "*"] => fields_of::<RawFault>(),
        ["slo"] => fields_of::<RawSlo>(),
        _ => return None,
    })
}

/// `path` as a [`fields_at`] pattern: array indices become `*`.
pub(crate) fn pattern_of<S: AsRef<str>>(path: &[S]) -> Vec<&str> {
    path.iter()
        .map(|s| {
            let s = s.as_ref();
            if s.parse::<usize>().is_ok() {
                "*"
            } else {
                s
            }
        })
        .collect()
}

/// The field names serde derived for `T` (captured from `deserialize_struct`).
fn fields_of<T: for<'de> Deserialize<'de>>() -> &'static [&'static str] {
    let mut probe = FieldProbe(&[]);
    // The probe always refuses to produce a value; only the captured list matters.
    let _ = T::deserialize(&mut probe);
    probe.0
}

struct FieldProbe(&'static [&'static str]);

#[derive(Debug)]
struct ProbeDone;

impl fmt::Display for ProbeDone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("field probe")
    }
}

impl std::error::Error for ProbeDone {}

impl de::Error for ProbeDone {
    fn custom<T: fmt::Display>(_msg: T) -> Self {
        ProbeDone
    }
}

impl<'de> Deserializer<'de> for &mut FieldProbe {
    type Error = ProbeDone;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, ProbeDone> {
        Err(ProbeDone)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, ProbeDone> {
        self.0 = fields;
        Err(ProbeDone)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_lists_come_from_serde() {
        assert_eq!(
            fields_at(&["server"]),
            Some(
                &[
                    "events",
                    "interval",
                    "first_event_delay",
                    "payload_bytes",
                    "fail_rate",
                    "tls",
                    "dialect",
                    "mode",
                    "rate",
                    "replay"
                ][..]
            )
        );
        assert_eq!(
            fields_at(&["load", "stages", "*"]),
            Some(&["for", "to"][..])
        );
        let top = fields_at(&[]).expect("root");
        assert!(top.contains(&"thresholds") && top.contains(&"proxy"));
        assert_eq!(fields_at(&["request", "headers"]), None);
        assert_eq!(fields_at(&["thresholds"]), None);
    }

    #[test]
    fn ordered_map_keeps_file_order() {
        #[derive(serde::Deserialize)]
        struct T {
            t: OrderedMap<Condition>,
        }
        let t: T = toml::from_str("[t]\nz = \"< 1\"\na = \"> 2\"\nm = \"== 3\"").expect("valid");
        let keys: Vec<&str> = t.t.0.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["z", "a", "m"]);
        let err = toml::from_str::<T>("[t]\nz = 0.5")
            .err()
            .expect("number is not a condition");
        assert!(
            err.message().contains("a condition string such as"),
            "{}",
            err.message()
        );
    }
}

//! Human-readable units in scenario files: [`HumanDuration`] (`"250ms"`,
//! `"1h30m"`) and [`ByteSize`] (`"1MiB"`, `"64KB"`, `1024`).
//!
//! Both are thin newtypes over the value kept in memory (`Duration`, `u64`
//! bytes) with `FromStr` and `Display` that round-trip: `Display` writes the
//! canonical spelling (`"1m30s"`, `"1MiB"`) and parsing it gives the same
//! value back (property-tested). A duration must carry a unit — a bare `10`
//! is refused because "10 what?" is the classic config mistake — while a byte
//! size may be a bare number of bytes.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// Why a duration or byte size could not be parsed. The message says how to
/// write the value correctly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// The text was empty.
    #[error("empty value: write a number with a unit, such as \"10s\"")]
    Empty,
    /// A leading minus sign.
    #[error("`{0}` is negative; durations and sizes cannot be negative")]
    Negative(String),
    /// A duration written without a unit.
    #[error("`{0}` has no unit: write \"{0}s\" or \"{0}ms\"")]
    MissingUnit(String),
    /// A unit we do not know.
    #[error("unknown unit `{unit}` in `{text}` (use {expected})")]
    UnknownUnit {
        /// The unit as written.
        unit: String,
        /// The whole value as written.
        text: String,
        /// The units that are accepted.
        expected: &'static str,
    },
    /// Something that is not a number where a number was expected.
    #[error("`{0}` is not a number followed by a unit, such as \"250ms\" or \"1h30m\"")]
    BadNumber(String),
    /// The value does not fit.
    #[error("`{0}` is too large")]
    Overflow(String),
    /// A byte size with a fractional number of bytes.
    #[error("`{0}` is not a whole number of bytes")]
    FractionalBytes(String),
}

const DURATION_UNITS: &str = "ns, us, ms, s, m, h or d";
const SIZE_UNITS: &str = "B, KB, MB, GB, KiB, MiB or GiB";

/// A `Duration` written with units: `"250ms"`, `"10s"`, `"5m"`, `"1h"`,
/// `"1h30m"`, `"1.5s"`. Units: `ns`, `us` (or `µs`), `ms`, `s`, `m`, `h`, `d`.
///
/// `Display` writes the canonical composite form (`"1m30s"`, `"1s500ms"`,
/// `"0s"`), never a fraction, so it parses back to the same value.
///
/// ```
/// use std::time::Duration;
/// use streamsoak::scenario::HumanDuration;
///
/// let d: HumanDuration = "1h30m".parse().unwrap();
/// assert_eq!(d.get(), Duration::from_secs(5400));
/// assert_eq!("1.5s".parse::<HumanDuration>().unwrap().to_string(), "1s500ms");
/// assert!("10".parse::<HumanDuration>().is_err()); // a unit is required
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    /// The wrapped duration.
    pub fn get(self) -> Duration {
        self.0
    }
}

impl From<Duration> for HumanDuration {
    fn from(d: Duration) -> Self {
        HumanDuration(d)
    }
}

fn duration_unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "d" => 86_400_000_000_000,
        _ => return None,
    })
}

/// Splits `text` at the end of a leading decimal number (`12`, `1.5`).
fn split_number(text: &str) -> (&str, &str) {
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    text.split_at(end)
}

/// `number * unit` exactly, as (whole units, remainder numerator over 10^k).
/// Returns `None` on overflow or a malformed number.
fn scale(number: &str, unit: u128) -> Option<(u128, bool)> {
    let (int, frac) = match number.split_once('.') {
        Some((i, f)) => (i, f),
        None => (number, ""),
    };
    if (int.is_empty() && frac.is_empty()) || frac.contains('.') || int.len() > 30 {
        return None;
    }
    let int_val: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut total = int_val.checked_mul(unit)?;
    // Digits past 18 cannot change a nanosecond or byte count we can hold.
    let frac = &frac[..frac.len().min(18)];
    let mut exact = true;
    if !frac.is_empty() {
        let frac_val: u128 = frac.parse().ok()?;
        let denom = 10u128.pow(frac.len() as u32);
        let num = frac_val.checked_mul(unit)?;
        exact = num % denom == 0;
        total = total.checked_add(num / denom)?;
    }
    Some((total, exact))
}

impl FromStr for HumanDuration {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        if text.is_empty() {
            return Err(UnitError::Empty);
        }
        if text.starts_with('-') {
            return Err(UnitError::Negative(text.to_owned()));
        }
        if text.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return Err(UnitError::MissingUnit(text.to_owned()));
        }
        let mut rest = text;
        let mut nanos: u128 = 0;
        while !rest.is_empty() {
            let (number, after) = split_number(rest);
            if number.is_empty() {
                return Err(UnitError::BadNumber(text.to_owned()));
            }
            let unit_end = after
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(after.len());
            let (unit, next) = after.split_at(unit_end);
            if unit.is_empty() {
                return Err(UnitError::MissingUnit(text.to_owned()));
            }
            let per = duration_unit_nanos(unit).ok_or_else(|| UnitError::UnknownUnit {
                unit: unit.to_owned(),
                text: text.to_owned(),
                expected: DURATION_UNITS,
            })?;
            let (part, _) = scale(number, per).ok_or_else(|| bad_or_overflow(number, text))?;
            nanos = nanos
                .checked_add(part)
                .ok_or_else(|| UnitError::Overflow(text.to_owned()))?;
            rest = next;
        }
        let secs = u64::try_from(nanos / 1_000_000_000)
            .map_err(|_| UnitError::Overflow(text.to_owned()))?;
        // Keep far below Duration::MAX so adding durations in plans cannot overflow.
        if secs > 100 * 365 * 86_400 {
            return Err(UnitError::Overflow(text.to_owned()));
        }
        let sub = (nanos % 1_000_000_000) as u32;
        Ok(HumanDuration(Duration::new(secs, sub)))
    }
}

fn bad_or_overflow(number: &str, text: &str) -> UnitError {
    if number.chars().filter(|&c| c == '.').count() > 1 || number == "." {
        UnitError::BadNumber(text.to_owned())
    } else {
        UnitError::Overflow(text.to_owned())
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.is_zero() {
            return f.write_str("0s");
        }
        let secs = d.as_secs();
        let nanos = d.subsec_nanos();
        let parts = [
            (secs / 3600, "h"),
            (secs % 3600 / 60, "m"),
            (secs % 60, "s"),
            (u64::from(nanos / 1_000_000), "ms"),
            (u64::from(nanos / 1_000 % 1_000), "us"),
            (u64::from(nanos % 1_000), "ns"),
        ];
        for (value, unit) in parts {
            if value > 0 {
                write!(f, "{value}{unit}")?;
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string with a unit, such as \"250ms\" or \"10s\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Err(E::custom(UnitError::MissingUnit(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Err(E::custom(UnitError::MissingUnit(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Err(E::custom(UnitError::MissingUnit(v.to_string())))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// A byte count written as `1024`, `"1024"`, `"64KB"` (×1000), `"512KiB"`
/// (×1024), `"1MiB"`, `"1.5MiB"`. Units are case-insensitive.
///
/// `Display` picks the largest exact binary unit, then the largest exact
/// decimal unit, then plain bytes (`"1MiB"`, `"64KB"`, `"1023B"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// The number of bytes.
    pub fn get(self) -> u64 {
        self.0
    }
}

const SIZE_UNITS_TABLE: [(&str, u64); 7] = [
    ("GiB", 1 << 30),
    ("MiB", 1 << 20),
    ("KiB", 1 << 10),
    ("GB", 1_000_000_000),
    ("MB", 1_000_000),
    ("KB", 1_000),
    ("B", 1),
];

impl FromStr for ByteSize {
    type Err = UnitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        if text.is_empty() {
            return Err(UnitError::Empty);
        }
        if text.starts_with('-') {
            return Err(UnitError::Negative(text.to_owned()));
        }
        let (number, unit) = split_number(text);
        if number.is_empty() {
            return Err(UnitError::BadNumber(text.to_owned()));
        }
        let unit = unit.trim();
        let per = if unit.is_empty() {
            1
        } else {
            SIZE_UNITS_TABLE
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(unit))
                .map(|&(_, per)| per)
                .ok_or_else(|| UnitError::UnknownUnit {
                    unit: unit.to_owned(),
                    text: text.to_owned(),
                    expected: SIZE_UNITS,
                })?
        };
        let (bytes, exact) =
            scale(number, u128::from(per)).ok_or_else(|| bad_or_overflow(number, text))?;
        if !exact {
            return Err(UnitError::FractionalBytes(text.to_owned()));
        }
        u64::try_from(bytes)
            .map(ByteSize)
            .map_err(|_| UnitError::Overflow(text.to_owned()))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        if n > 0 {
            for (name, per) in SIZE_UNITS_TABLE {
                if n % per == 0 {
                    return write!(f, "{}{name}", n / per);
                }
            }
        }
        write!(f, "{n}B")
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte size such as 1024, \"64KB\" or \"1MiB\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom(UnitError::Negative(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(ByteSize(v))
            }
        }
        deserializer.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(text: &str) -> Result<Duration, UnitError> {
        text.parse::<HumanDuration>().map(HumanDuration::get)
    }

    #[test]
    fn durations_parse() {
        let ms = Duration::from_millis;
        for (text, want) in [
            ("250ms", ms(250)),
            ("10s", ms(10_000)),
            ("5m", ms(300_000)),
            ("1h", ms(3_600_000)),
            ("1h30m", ms(5_400_000)),
            ("1.5s", ms(1_500)),
            (".5s", ms(500)),
            ("0s", ms(0)),
            ("0ms", ms(0)),
            ("2d", ms(172_800_000)),
            ("1m30s250ms", ms(90_250)),
            (" 10s ", ms(10_000)),
            ("1us", Duration::from_micros(1)),
            ("1µs", Duration::from_micros(1)),
            ("7ns", Duration::from_nanos(7)),
            ("0.0000000001s", Duration::ZERO),
        ] {
            assert_eq!(d(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn durations_refused() {
        for (text, want) in [
            ("", "empty value"),
            ("10", "has no unit: write \"10s\""),
            ("1.5", "has no unit"),
            ("-1s", "negative"),
            ("10 s", "unknown unit ` s`"),
            ("10sec", "unknown unit `sec`"),
            ("1h30", "has no unit"),
            ("s", "not a number"),
            ("1..2s", "not a number"),
            ("99999999999999999999999999h", "too large"),
            ("200000d", "too large"),
        ] {
            let err = d(text).expect_err(text).to_string();
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn durations_display() {
        for (ms, want) in [
            (0, "0s"),
            (250, "250ms"),
            (1_500, "1s500ms"),
            (90_000, "1m30s"),
            (5_400_000, "1h30m"),
            (90_000_000, "25h"),
        ] {
            assert_eq!(HumanDuration(Duration::from_millis(ms)).to_string(), want);
        }
    }

    #[test]
    fn sizes_parse_and_display() {
        for (text, bytes, shown) in [
            ("1024", 1024, "1KiB"),
            ("1MiB", 1 << 20, "1MiB"),
            ("1mib", 1 << 20, "1MiB"),
            ("512KiB", 512 << 10, "512KiB"),
            ("64KB", 64_000, "64KB"),
            ("1.5MiB", 3 << 19, "1536KiB"),
            ("1.5KB", 1_500, "1500B"),
            ("0", 0, "0B"),
            ("1 MiB", 1 << 20, "1MiB"),
            ("1023B", 1023, "1023B"),
        ] {
            let size: ByteSize = text.parse().expect(text);
            assert_eq!(size.get(), bytes, "{text}");
            assert_eq!(size.to_string(), shown, "{text}");
        }
        for (text, want) in [
            ("1.5B", "whole number"),
            ("-1", "negative"),
            ("1XB", "unknown unit"),
            ("MiB", "not a number"),
            ("99999999999GiB", "too large"),
        ] {
            let err = text.parse::<ByteSize>().expect_err(text).to_string();
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn deserialize_from_toml() {
        #[derive(serde::Deserialize)]
        struct T {
            d: HumanDuration,
            s: ByteSize,
        }
        let ok: T = toml::from_str("d = \"1s\"\ns = 1024").expect("valid");
        assert_eq!((ok.d.get(), ok.s.get()), (Duration::from_secs(1), 1024));
        let err = toml::from_str::<T>("d = 10\ns = 1")
            .err()
            .expect("bare int");
        assert!(err.message().contains("\"10s\""), "{}", err.message());
        let err = toml::from_str::<T>("d = \"1s\"\ns = -4")
            .err()
            .expect("neg");
        assert!(err.message().contains("negative"), "{}", err.message());
    }

    proptest! {
        #[test]
        fn duration_round_trips(secs in 0u64..(100 * 365 * 86_400), nanos in 0u32..1_000_000_000) {
            let value = HumanDuration(Duration::new(secs, nanos));
            let text = value.to_string();
            prop_assert_eq!(text.parse::<HumanDuration>(), Ok(value));
        }

        #[test]
        fn size_round_trips(bytes in any::<u64>()) {
            let value = ByteSize(bytes);
            prop_assert_eq!(value.to_string().parse::<ByteSize>(), Ok(value));
        }
    }
}

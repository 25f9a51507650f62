//! `run --start-at`: the instant that is every shard's `t = 0`.
//!
//! Two spellings, both resolved against a `now` passed in (no clock here):
//! - an RFC 3339 date-time (§5.6), e.g. `2025-06-01T12:00:00Z`, with
//!   optional fractional seconds and a `Z` or `±hh:mm` offset (converted to
//!   UTC); `T`/`t` or one space between date and time, `Z` or `z`;
//! - a relative `+DURATION` from now, e.g. `+90s`, `+2m30s` (the units of
//!   scenario durations).
//!
//! A start instant that has already passed is refused ([`StartAtError::Passed`]):
//! a shard that started late would not line up with the others, and the
//! caller could not tell it from a typo. (A run whose preparation overruns
//! a still-future instant starts at once instead, and reports its lateness;
//! that is the engine's part.)
//!
//! Leap seconds (`:60`) are refused: RFC 3339 allows them, but `SystemTime`
//! cannot hold one and no barrier computes one.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::scenario::units::HumanDuration;

/// Why a `--start-at` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartAtError {
    /// Neither an RFC 3339 date-time nor `+DURATION`.
    #[error("`{value}` is not a start time: {why}; expected an RFC 3339 UTC time such as 2025-06-01T12:00:00Z, or +DURATION such as +90s")]
    Syntax {
        /// The value given.
        value: String,
        /// What is wrong with it.
        why: String,
    },
    /// The instant is already in the past.
    #[error("`{value}` passed {} ago: give a time in the future (e.g. +90s); shards that start late do not line up", HumanDuration(Duration::from_millis(*ago_ms as u64)))]
    Passed {
        /// The value given.
        value: String,
        /// How long ago, in milliseconds.
        ago_ms: u128,
    },
}

/// `--start-at VALUE` at `now` → the start instant (to the millisecond),
/// not before `now`.
///
/// # Errors
/// [`StartAtError::Syntax`] for a malformed value, [`StartAtError::Passed`]
/// for an instant before `now`.
pub fn resolve(value: &str, now: SystemTime) -> Result<SystemTime, StartAtError> {
    let syntax = |why: &str| StartAtError::Syntax {
        value: value.to_owned(),
        why: why.to_owned(),
    };
    let text = value.trim();
    let at = if let Some(rest) = text.strip_prefix('+') {
        let d: HumanDuration = rest
            .parse()
            .map_err(|err| syntax(&format!("bad duration: {err}")))?;
        now + d.0
    } else {
        parse_rfc3339(text).map_err(|why| syntax(&why))?
    };
    match now.duration_since(at) {
        Ok(ago) if !ago.is_zero() => Err(StartAtError::Passed {
            value: value.to_owned(),
            ago_ms: ago.as_millis(),
        }),
        _ => Ok(whole_millis(at)),
    }
}

/// `t` truncated to the millisecond: the precision `summary.csv` keeps, so
/// the instant written is the instant used.
fn whole_millis(t: SystemTime) -> SystemTime {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    UNIX_EPOCH + Duration::from_millis(d.as_millis() as u64)
}

/// An RFC 3339 `date-time` → the instant it names.
///
/// # Errors
/// What is wrong, as a phrase.
pub fn parse_rfc3339(text: &str) -> Result<SystemTime, String> {
    let b = text.as_bytes();
    if b.len() < 19 {
        return Err("too short for YYYY-MM-DDTHH:MM:SSZ".into());
    }
    let digits = |range: std::ops::Range<usize>, what: &str| -> Result<u32, String> {
        let part = &text[range];
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().map_err(|_| format!("bad {what}"))
        } else {
            Err(format!("bad {what} `{part}`"))
        }
    };
    let sep = |i: usize, want: &[u8], what: &str| -> Result<(), String> {
        if want.contains(&b[i]) {
            Ok(())
        } else {
            Err(format!("expected {what} at position {}", i + 1))
        }
    };
    let year = digits(0..4, "year")?;
    sep(4, b"-", "`-`")?;
    let month = digits(5..7, "month")?;
    sep(7, b"-", "`-`")?;
    let day = digits(8..10, "day")?;
    sep(10, b"Tt ", "`T`")?;
    let hour = digits(11..13, "hour")?;
    sep(13, b":", "`:`")?;
    let minute = digits(14..16, "minute")?;
    sep(16, b":", "`:`")?;
    let second = digits(17..19, "second")?;
    if !(1..=12).contains(&month) {
        return Err(format!("month {month} is not 01-12"));
    }
    if day == 0 || day > days_in_month(year, month) {
        return Err(format!("day {day} is not in {year:04}-{month:02}"));
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(format!(
            "time {hour:02}:{minute:02}:{second:02} is not a time of day"
        ));
    }
    let mut i = 19;
    let mut nanos: u32 = 0;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let frac = &text[start..i];
        if frac.is_empty() {
            return Err("no digits after `.`".into());
        }
        // Nanosecond precision; further digits are truncated.
        let mut padded = frac.chars().take(9).collect::<String>();
        while padded.len() < 9 {
            padded.push('0');
        }
        nanos = padded.parse().map_err(|_| "bad fraction".to_owned())?;
    }
    let offset_s: i64 = match &text[i..] {
        "Z" | "z" => 0,
        rest if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) => {
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            if rest.as_bytes()[3] != b':' {
                return Err("offset is not ±hh:mm".into());
            }
            let oh = digits(i + 1..i + 3, "offset hour")?;
            let om = digits(i + 4..i + 6, "offset minute")?;
            if oh > 23 || om > 59 {
                return Err(format!("offset {rest} is out of range"));
            }
            sign * i64::from(oh * 3600 + om * 60)
        }
        "" => return Err("no time zone: end with Z (UTC) or ±hh:mm".into()),
        rest => return Err(format!("bad time zone `{rest}`: use Z (UTC) or ±hh:mm")),
    };
    let days = days_from_civil(i64::from(year), month, day);
    let local = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    let utc = local - offset_s;
    let secs = u64::try_from(utc).map_err(|_| "before 1970-01-01".to_owned())?;
    Ok(UNIX_EPOCH + Duration::new(secs, nanos))
}

fn is_leap(year: u32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// (year, month, day) → days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    #[test]
    fn rfc3339_instants() {
        for (text, secs, nanos) in [
            ("1970-01-01T00:00:00Z", 0, 0),
            ("2025-06-01T12:00:00Z", 1_748_779_200, 0),
            ("2025-06-01t12:00:00z", 1_748_779_200, 0),
            ("2025-06-01 12:00:00Z", 1_748_779_200, 0),
            ("2025-06-01T12:00:00.5Z", 1_748_779_200, 500_000_000),
            (
                "2025-06-01T12:00:00.123456789123Z",
                1_748_779_200,
                123_456_789,
            ),
            ("2025-06-01T14:00:00+02:00", 1_748_779_200, 0),
            ("2025-06-01T07:30:00-04:30", 1_748_779_200, 0),
            ("2024-02-29T00:00:00Z", 1_709_164_800, 0),
            ("2000-03-01T00:00:00Z", 951_868_800, 0),
            ("2100-01-01T00:00:30Z", 4_102_444_830, 0),
            ("2023-12-31T23:59:59Z", 1_704_067_199, 0),
        ] {
            assert_eq!(parse_rfc3339(text), Ok(at(secs, nanos)), "{text}");
        }
    }

    #[test]
    fn rfc3339_refusals_say_what_is_wrong() {
        for (text, why) in [
            ("2025-06-01", "too short"),
            ("2025-06-01T12:00:00", "no time zone"),
            ("2025-06-01T12:00:00 ", "bad time zone"),
            ("2025-06-01T12:00:00+0200", "bad time zone"),
            ("2025-06-01T12:00:00+02-00", "offset is not"),
            ("2025-06-01T12:00:00+24:00", "out of range"),
            ("2025-06-01T12:00:00PST", "bad time zone"),
            ("2025-13-01T12:00:00Z", "month 13"),
            ("2025-02-29T12:00:00Z", "day 29 is not in 2025-02"),
            ("1900-02-29T12:00:00Z", "day 29 is not in 1900-02"),
            ("2025-04-31T12:00:00Z", "day 31"),
            ("2025-06-00T12:00:00Z", "day 0"),
            ("2025-06-01T24:00:00Z", "not a time of day"),
            ("2025-06-01T12:60:00Z", "not a time of day"),
            ("2025-06-01T12:00:60Z", "not a time of day"),
            ("2025/06/01T12:00:00Z", "expected `-`"),
            ("2025-06-01X12:00:00Z", "expected `T`"),
            ("2025-06-01T12-00:00Z", "expected `:`"),
            ("20x5-06-01T12:00:00Z", "bad year"),
            ("2025-06-01T12:00:00.Z", "no digits"),
            ("1969-12-31T23:59:59Z", "before 1970"),
            ("+025-06-01T12:00:00Z", "bad year"),
        ] {
            let err = parse_rfc3339(text).expect_err(text);
            assert!(err.contains(why), "{text}: `{err}` should say `{why}`");
        }
    }

    #[test]
    fn resolve_relative_absolute_and_past() {
        let now = at(1_748_779_200, 250_000_000);
        assert_eq!(resolve("+90s", now), Ok(now + Duration::from_secs(90)));
        assert_eq!(resolve(" +2m30s ", now), Ok(now + Duration::from_secs(150)));
        assert_eq!(resolve("+0s", now), Ok(now), "now itself is not past");
        // Millisecond precision, as summary.csv writes it.
        let odd = now + Duration::from_micros(1_500);
        assert_eq!(resolve("+1s", odd), Ok(now + Duration::from_millis(1_001)));
        assert_eq!(resolve("+0s", odd), Ok(now + Duration::from_millis(1)));
        assert_eq!(
            resolve("2025-06-01T12:01:00.123456Z", now),
            Ok(at(1_748_779_260, 123_000_000))
        );
        assert_eq!(
            resolve("2025-06-01T12:01:00Z", now),
            Ok(at(1_748_779_260, 0))
        );
        assert_eq!(
            resolve("2025-06-01T12:00:00Z", now),
            Err(StartAtError::Passed {
                value: "2025-06-01T12:00:00Z".into(),
                ago_ms: 250
            })
        );
        for bad in [
            "",
            "+",
            "+90",
            "90s",
            "-90s",
            "+x",
            "tomorrow",
            "1748779200",
        ] {
            let err = resolve(bad, now).expect_err(bad);
            assert!(matches!(err, StartAtError::Syntax { .. }), "{bad}: {err:?}");
            assert!(err.to_string().contains("RFC 3339"), "{bad}: {err}");
        }
        let passed = resolve("2025-06-01T11:59:00Z", now).expect_err("past");
        assert!(
            passed.to_string().contains("passed 1m250ms ago"),
            "{passed}"
        );
    }
}

//! The fast path of [`parse`](super::parse): one pass over a flat JSON
//! object, no serde visitor, nothing allocated.
//!
//! It accepts only what it can decide exactly as serde_json would: an object
//! whose keys are escape-free strings and whose values are escape-free
//! strings, JSON numbers, `true`, `false` or `null`, followed by nothing but
//! JSON whitespace. The configured fields take only the values whose meaning
//! is plain: `data`/`error` a string or `null`, `count` an integer of at most
//! 18 digits (so it fits `i64` and needs no rendering), `timestamp` an
//! integer of at most 18 digits (read as serde reads it). Anything else — an
//! escape, a control character in a string, a nested value, a float count,
//! malformed input — returns `None`, and serde_json decides. Duplicate keys
//! behave as in the serde path: the last one wins.

use std::borrow::Cow;

use super::{FieldNames, Fields};

/// The fields of `data` when it has the plain shape; `None` = let serde decide.
pub(super) fn fields<'a>(names: FieldNames<'_>, data: &'a str) -> Option<Fields<'a>> {
    let mut s = Scanner {
        bytes: data.as_bytes(),
        text: data,
        pos: 0,
    };
    let mut out = Fields::default();
    s.ws();
    s.eat(b'{')?;
    s.ws();
    if s.peek() == Some(b'}') {
        s.pos += 1;
    } else {
        loop {
            let key = s.string()?;
            s.ws();
            s.eat(b':')?;
            s.ws();
            if key == names.data {
                out.data = s.text_value()?;
            } else if key == names.count {
                out.count = Some(s.integer()?);
            } else if key == names.error {
                out.error = s.text_value()?;
            } else if names.timestamp == Some(key) {
                // An integer as the serde path reads it (`as f64`); a float,
                // a string or anything else: serde decides.
                out.timestamp = Some(s.integer()? as f64);
            } else {
                s.skip_scalar()?;
            }
            s.ws();
            match s.bump()? {
                b',' => s.ws(),
                b'}' => break,
                _ => return None,
            }
        }
    }
    s.ws();
    (s.pos == s.bytes.len()).then_some(out)
}

struct Scanner<'a> {
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    fn eat(&mut self, want: u8) -> Option<()> {
        (self.bump()? == want).then_some(())
    }

    /// JSON whitespace: space, tab, LF, CR (nothing else, as in serde_json).
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// An escape-free string, borrowed; `None` on an escape or a control character.
    fn string(&mut self) -> Option<&'a str> {
        if self.peek() != Some(b'"') {
            return None;
        }
        let start = self.pos + 1;
        let rest = self.bytes.get(start..)?;
        let len = rest
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        if rest[len] != b'"' {
            return None;
        }
        self.pos = start + len + 1;
        // Both ends are ASCII quotes, so these are char boundaries.
        self.text.get(start..start + len)
    }

    /// `data`/`error`: a string, or `null` = absent.
    fn text_value(&mut self) -> Option<Option<Cow<'a, str>>> {
        match self.peek()? {
            b'"' => Some(Some(Cow::Borrowed(self.string()?))),
            b'n' => self.literal(b"null").map(|()| None),
            _ => None,
        }
    }

    /// `count`: `-?(0|[1-9][0-9]*)` with at most 18 digits, not followed by
    /// a fraction or an exponent (those, and longer numbers, go to serde).
    fn integer(&mut self) -> Option<i64> {
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        let start = self.pos;
        let mut n: i64 = 0;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            if self.pos - start == 18 {
                return None; // a 19th digit: serde decides
            }
            n = n * 10 + i64::from(d - b'0');
            self.pos += 1;
        }
        let digits = self.pos - start;
        if digits == 0 || (digits > 1 && self.bytes[start] == b'0') {
            return None;
        }
        if let Some(b'.' | b'e' | b'E') = self.peek() {
            return None;
        }
        Some(if negative { -n } else { n })
    }

    /// Any other key's value: a string, a number, `true`, `false`, `null`.
    fn skip_scalar(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'n' => self.literal(b"null"),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.pos + word.len();
        (self.bytes.get(self.pos..end)? == word).then(|| self.pos = end)
    }

    /// The JSON number grammar: `-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?`.
    fn number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.bump()? {
            b'0' => {}
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.one_or_more_digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            self.one_or_more_digits()?;
        }
        Some(())
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    fn one_or_more_digits(&mut self) -> Option<()> {
        let start = self.pos;
        self.digits();
        (self.pos > start).then_some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::config::StreamSpec;
    use proptest::prelude::*;

    fn names() -> FieldNames<'static> {
        FieldNames {
            data: "Data",
            count: "Count",
            error: "error",
            timestamp: None,
        }
    }

    /// Input, then the count, data and error the scanner must read.
    type Case = (
        &'static str,
        Option<i64>,
        Option<&'static str>,
        Option<&'static str>,
    );

    #[test]
    fn takes_the_plain_shapes() {
        let cases: &[Case] = &[
            (
                r#"{"Count": 1, "Data": "Event 1"}"#,
                Some(1),
                Some("Event 1"),
                None,
            ),
            (
                r#"{"Data": "Stream completed"}"#,
                None,
                Some("Stream completed"),
                None,
            ),
            (
                r#"{"error": "boom", "x": -1.5e+3, "y": true}"#,
                None,
                None,
                Some("boom"),
            ),
            (r#" { } "#, None, None, None),
            (
                r#"{"Count": -0, "Data": null, "error": null}"#,
                Some(0),
                None,
                None,
            ),
            (
                r#"{"Count":999999999999999999}"#,
                Some(999_999_999_999_999_999),
                None,
                None,
            ),
            (
                r#"{"Data": "a", "Data": "b", "Count": 1, "Count": 2}"#,
                Some(2),
                Some("b"),
                None,
            ),
            ("{\"Data\":\"é ✓\"}\r\n\t", None, Some("é ✓"), None),
        ];
        for &(text, count, data, error) in cases {
            let f = fields(names(), text).unwrap_or_else(|| panic!("declined {text:?}"));
            assert_eq!(
                (f.count, f.data.as_deref(), f.error.as_deref()),
                (count, data, error),
                "{text:?}"
            );
            assert!(!matches!(f.data, Some(Cow::Owned(_))), "borrowed: {text:?}");
        }
    }

    #[test]
    fn declines_what_serde_must_decide() {
        for text in [
            r#"{"Data": "a\"b"}"#,
            r#"{"Da\u0074a": "x"}"#,
            r#"{"Count": 1.0}"#,
            r#"{"Count": 1e2}"#,
            r#"{"Count": "7"}"#,
            r#"{"Count": 1000000000000000000}"#,
            r#"{"Count": 01}"#,
            r#"{"x": [1]}"#,
            r#"{"Data": {"k": 1}}"#,
            "{\"Data\": \"tab\there\"}",
            r#"{"x": 1.}"#,
            r#"{"x": -}"#,
            r#"{"x": nul}"#,
            r#"{"x": 1,}"#,
            r#"{} trailing"#,
            "{}\u{a0}",
            "",
            "[1]",
            r#"{"Data": 1"#,
        ] {
            assert!(fields(names(), text).is_none(), "{text:?} must go to serde");
        }
    }

    /// A JSON-ish value: mostly valid, with the corners that matter.
    fn value() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("null".to_owned()),
            Just("true".to_owned()),
            Just("false".to_owned()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<u64>().prop_map(|n| n.to_string()),
            (0u32..1000).prop_map(|n| n.to_string()),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| f.to_string()),
            Just("1e2".to_owned()),
            Just("-0".to_owned()),
            Just("-0.0".to_owned()),
            Just("012".to_owned()),
            Just("1.".to_owned()),
            Just("99999999999999999999".to_owned()),
            "[a-zA-Z0-9 é✓]{0,8}".prop_map(|s| format!("\"{s}\"")),
            r#"[a-z"\\/bfnrtu0-9\t]{0,6}"#.prop_map(|s| format!("\"{s}\"")),
            "-?[0-9]{1,20}".prop_map(|s| format!("\"{s}\"")),
            Just("\"+7\"".to_owned()),
        ];
        leaf.prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec((key(), inner), 0..3).prop_map(|v| {
                    let members: Vec<_> = v.into_iter().map(|(k, v)| format!("{k}:{v}")).collect();
                    format!("{{{}}}", members.join(","))
                }),
            ]
        })
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("\"Data\"".to_owned()),
            Just("\"Count\"".to_owned()),
            Just("\"error\"".to_owned()),
            Just("\"Da\\u0074a\"".to_owned()),
            Just("\"x\"".to_owned()),
            "[a-zA-Z]{0,5}".prop_map(|s| format!("\"{s}\"")),
        ]
    }

    fn ws() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => Just(String::new()),
            2 => Just(" ".to_owned()),
            1 => "[ \t\r\n]{0,3}",
            1 => Just("\u{a0}".to_owned()),
        ]
    }

    /// An object of members, each piece with optional whitespace around it.
    fn object() -> impl Strategy<Value = String> {
        (
            prop::collection::vec((ws(), key(), ws(), ws(), value(), ws()), 0..5),
            ws(),
            ws(),
        )
            .prop_map(|(members, head, tail)| {
                let body: Vec<_> = members
                    .into_iter()
                    .map(|(a, k, b, c, v, d)| format!("{a}{k}{b}:{c}{v}{d}"))
                    .collect();
                format!("{head}{{{}}}{tail}", body.join(","))
            })
    }

    /// A valid-looking object, then cut or with one character replaced.
    fn mutated() -> impl Strategy<Value = String> {
        (
            object(),
            any::<prop::sample::Index>(),
            prop_oneof![
                Just(None),
                prop::char::any().prop_map(Some),
                prop::sample::select(vec!['{', '}', ',', ':', '"', '\\', ' ', '0', '-', '.', 'e'])
                    .prop_map(Some),
            ],
        )
            .prop_map(|(text, at, with)| {
                let cuts: Vec<usize> = (0..=text.len())
                    .filter(|&i| text.is_char_boundary(i))
                    .collect();
                let at = cuts[at.index(cuts.len())];
                match with {
                    None => text[..at].to_owned(),
                    Some(c) => {
                        let rest = text[at..].chars().skip(1).collect::<String>();
                        format!("{}{c}{rest}", &text[..at])
                    }
                }
            })
    }

    fn agrees(text: &str) -> Result<(), TestCaseError> {
        for names in [
            names(),
            StreamSpec::default().field_names(),
            FieldNames {
                data: "x",
                count: "Data",
                error: "",
                timestamp: None,
            },
            FieldNames {
                timestamp: Some("ts"),
                ..names()
            },
            FieldNames {
                timestamp: Some("Count"),
                ..names()
            },
        ] {
            let reference = super::super::parse_serde(names, text);
            if let Some(fast) = fields(names, text) {
                let Ok(want) = &reference else {
                    return Err(TestCaseError::fail(format!(
                        "scanner accepted what serde refuses: {text:?}"
                    )));
                };
                prop_assert_eq!(&fast, want, "{:?}", text);
            }
            let public = super::super::parse(names, text);
            prop_assert_eq!(public.is_ok(), reference.is_ok(), "{:?}", text);
            if let (Ok(a), Ok(b)) = (public, reference) {
                prop_assert_eq!(a, b, "{:?}", text);
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Whenever the scanner answers, serde_json gives the same fields.
        #[test]
        fn equals_serde_on_objects(text in object()) {
            agrees(&text)?;
        }

        #[test]
        fn equals_serde_on_mutations(text in mutated()) {
            agrees(&text)?;
        }

        #[test]
        fn equals_serde_on_any_text(text in "\\PC{0,24}") {
            agrees(&text)?;
        }
    }

    /// The seed's events take the fast path (or the gain is gone).
    #[test]
    fn seed_events_are_scanned() {
        for n in [0, 1, 42, 123_456_789] {
            let text = format!("{{\"Count\": {n}, \"Data\": \"Event {n}\"}}");
            let f = fields(StreamSpec::default().field_names(), &text).expect("fast path");
            assert_eq!(f.count, Some(n));
        }
    }
}

//! `--set a.b.1.c=v`: edits applied to the TOML document before it is
//! deserialized, so an overridden value goes through exactly the same checks
//! as one written in the file.
//!
//! The path is a TOML dotted key (quote segments containing dots:
//! `thresholds."ttfe.p99"=< 2s`); numeric segments index arrays (an index
//! equal to the length appends). Missing tables are created; a missing array
//! is not (there is no sensible default element). Before anything is
//! edited, the path is checked against the scenario's keys (the same field
//! lists as `locate.rs`'s unknown-key check), so a misspelt key is refused
//! with the nearest valid one and blamed on the `--set`, even where walking
//! the path would fail first (`load.stagse.0.for`). The value is parsed as a
//! TOML value when it is one (`200`, `0.5`, `true`, `"x"`, `[1, 2]`,
//! `{ for = "1s", to = 5 }`) and taken as a plain string otherwise
//! (`10s`, `https://host`), so shells need no extra quoting for the common cases.

use std::path::Path;

use toml_edit::{Array, ArrayOfTables, DocumentMut, InlineTable, Item, Table, Value};

use super::error::{key_string, unknown_key_message, ScenarioError};
use super::raw::{fields_at, pattern_of};

/// One parsed `--set`.
#[derive(Debug, Clone)]
pub(crate) struct Override {
    /// Key path segments.
    pub(crate) path: Vec<String>,
    /// The option as given (`--set k=v`, `--target URL`), for error messages.
    pub(crate) spec: String,
    value: Value,
}

impl Override {
    /// Parses `path=value`. The error is a message about the whole argument.
    pub(crate) fn parse(spec: &str) -> Result<Override, String> {
        let eq = split_point(spec)
            .ok_or_else(|| format!("`--set {spec}` needs the form key.path=value"))?;
        let (path_text, raw_value) = (spec[..eq].trim(), &spec[eq + 1..]);
        let keys = toml_edit::Key::parse(path_text)
            .map_err(|_| format!("`{path_text}` is not a key path such as load.stages.1.to"))?;
        if keys.is_empty() {
            return Err(format!("`--set {spec}` has an empty key path"));
        }
        let mut value = raw_value
            .trim()
            .parse::<Value>()
            .unwrap_or_else(|_| Value::from(raw_value.trim()));
        value.decor_mut().clear();
        Ok(Override {
            path: keys.iter().map(|k| k.get().to_owned()).collect(),
            spec: format!("--set {spec}"),
            value,
        })
    }

    /// Sets `path` to the string `value` (used for `--target URL`).
    pub(crate) fn string(path: &[&str], value: &str, spec: String) -> Override {
        Override {
            path: path.iter().map(|s| (*s).to_owned()).collect(),
            spec,
            value: Value::from(value),
        }
    }

    /// Applies the edit to `doc`; errors name `file` and this `--set`.
    pub(crate) fn apply(&self, doc: &mut DocumentMut, file: &Path) -> Result<(), ScenarioError> {
        if let Some((key, message)) = self.unknown_key() {
            return Err(ScenarioError::unplaced(
                file,
                key_string(key),
                format!("{message} (from {})", self.spec),
            ));
        }
        self.edit(doc).map_err(|m| {
            ScenarioError::unplaced(
                file,
                key_string(&self.path),
                format!("{m} (in {})", self.spec),
            )
        })
    }

    /// The first key of the path that the scenario does not have (the path
    /// up to it, and an "unknown key" message with a suggestion). Keys of
    /// free-form tables (`request.headers`, `thresholds`) are not checked.
    fn unknown_key(&self) -> Option<(&[String], String)> {
        self.path.iter().enumerate().find_map(|(i, seg)| {
            let fields = fields_at(&pattern_of(&self.path[..i]))?;
            (!fields.contains(&seg.as_str()))
                .then(|| (&self.path[..=i], unknown_key_message(seg, fields)))
        })
    }

    /// Walks the path (creating missing tables) and sets the value.
    fn edit(&self, doc: &mut DocumentMut) -> Result<(), String> {
        let (last, parents) = self
            .path
            .split_last()
            .expect("invariant: Override::parse refuses empty paths");
        let mut node = NodeMut::Table(doc.as_table_mut());
        for (i, seg) in parents.iter().enumerate() {
            let next_is_index = self.path[i + 1].parse::<usize>().is_ok();
            node = node.descend(seg, next_is_index, &self.path[..=i])?;
        }
        node.set(last, self.value.clone(), &self.path)
    }
}

/// The first `=` outside quotes.
fn split_point(spec: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in spec.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, '=') => return Some(i),
            _ => {}
        }
    }
    None
}

fn show(path: &[String]) -> String {
    key_string(path)
}

fn index(seg: &str, len: usize, at: &[String]) -> Result<usize, String> {
    let i: usize = seg.parse().map_err(|_| {
        format!(
            "`{}` is an array: use an index 0..{len}",
            show(&at[..at.len() - 1])
        )
    })?;
    if i > len {
        return Err(format!(
            "index {i} is past the end of `{}` ({len} elements; {len} appends)",
            show(&at[..at.len() - 1])
        ));
    }
    Ok(i)
}

enum NodeMut<'d> {
    Table(&'d mut Table),
    Inline(&'d mut InlineTable),
    Array(&'d mut Array),
    Tables(&'d mut ArrayOfTables),
}

impl<'d> NodeMut<'d> {
    fn of_item(item: &'d mut Item, at: &[String]) -> Result<NodeMut<'d>, String> {
        match item {
            Item::Table(t) => Ok(NodeMut::Table(t)),
            Item::ArrayOfTables(a) => Ok(NodeMut::Tables(a)),
            Item::Value(v) => NodeMut::of_value(v, at),
            Item::None => Err(format!("`{}` is empty", show(at))),
        }
    }

    fn of_value(value: &'d mut Value, at: &[String]) -> Result<NodeMut<'d>, String> {
        match value {
            Value::InlineTable(t) => Ok(NodeMut::Inline(t)),
            Value::Array(a) => Ok(NodeMut::Array(a)),
            _ => Err(format!(
                "`{}` is a plain value, not a table or array",
                show(at)
            )),
        }
    }

    /// Moves to child `seg` (`at` = path up to and including `seg`), creating
    /// a missing table unless the next segment indexes an array.
    fn descend(self, seg: &str, next_is_index: bool, at: &[String]) -> Result<NodeMut<'d>, String> {
        let missing = || {
            format!(
                "`{}` is not set, so it cannot be indexed; set the whole array instead",
                show(at)
            )
        };
        match self {
            NodeMut::Table(t) => {
                if !t.contains_key(seg) {
                    if next_is_index {
                        return Err(missing());
                    }
                    t.insert(seg, Item::Table(Table::new()));
                }
                let item = t
                    .get_mut(seg)
                    .expect("invariant: key present or just inserted");
                NodeMut::of_item(item, at)
            }
            NodeMut::Inline(t) => {
                if !t.contains_key(seg) {
                    if next_is_index {
                        return Err(missing());
                    }
                    t.insert(seg, Value::InlineTable(InlineTable::new()));
                }
                let value = t
                    .get_mut(seg)
                    .expect("invariant: key present or just inserted");
                NodeMut::of_value(value, at)
            }
            NodeMut::Array(a) => {
                let i = index(seg, a.len(), at)?;
                if i == a.len() {
                    a.push(InlineTable::new());
                }
                let value = a
                    .get_mut(i)
                    .expect("invariant: index checked or just pushed");
                NodeMut::of_value(value, at)
            }
            NodeMut::Tables(a) => {
                let i = index(seg, a.len(), at)?;
                if i == a.len() {
                    a.push(Table::new());
                }
                let table = a
                    .get_mut(i)
                    .expect("invariant: index checked or just pushed");
                Ok(NodeMut::Table(table))
            }
        }
    }

    /// Sets child `seg` to `value`, keeping the old value's layout (so line
    /// numbers of the rest of the file stay put).
    fn set(self, seg: &str, mut value: Value, at: &[String]) -> Result<(), String> {
        match self {
            NodeMut::Table(t) => {
                if let Some(Item::Value(old)) = t.get(seg) {
                    *value.decor_mut() = old.decor().clone();
                }
                t.insert(seg, Item::Value(value));
            }
            NodeMut::Inline(t) => {
                if let Some(old) = t.get(seg) {
                    *value.decor_mut() = old.decor().clone();
                }
                t.insert(seg, value);
            }
            NodeMut::Array(a) => {
                let i = index(seg, a.len(), at)?;
                if let Some(old) = a.get(i) {
                    *value.decor_mut() = old.decor().clone();
                    a.replace_formatted(i, value);
                } else {
                    a.push(value);
                }
            }
            NodeMut::Tables(a) => {
                let i = index(seg, a.len(), at)?;
                let Value::InlineTable(inline) = value else {
                    return Err(format!(
                        "`{}` is a table: give an inline table {{ … }}",
                        show(at)
                    ));
                };
                let table = inline.into_table();
                match a.get_mut(i) {
                    Some(slot) => *slot = table,
                    None => a.push(table),
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "name = \"x\"\n\n[load]\nstages = [\n  { for = \"1s\", to = 1 },\n  { for = \"2s\", to = 2 },\n]\n\n[[faults]]\nat = \"1s\"\n";

    fn apply(sets: &[&str]) -> Result<toml::Table, String> {
        let mut doc: DocumentMut = BASE.parse().expect("valid");
        for set in sets {
            Override::parse(set)?
                .apply(&mut doc, Path::new("t.toml"))
                .map_err(|err| err.to_string())?;
        }
        toml::from_str(&doc.to_string()).map_err(|err| err.to_string())
    }

    fn get<'a>(table: &'a toml::Table, path: &str) -> &'a toml::Value {
        let mut value = table
            .get(path.split('.').next().expect("seg"))
            .expect("top");
        for seg in path.split('.').skip(1) {
            value = match seg.parse::<usize>() {
                Ok(i) => &value.as_array().expect("array")[i],
                Err(_) => value.get(seg).expect("key"),
            };
        }
        value
    }

    #[test]
    fn applies_overrides() {
        use toml::Value as V;
        for (set, path, want) in [
            ("load.stages.1.to=200", "load.stages.1.to", V::Integer(200)),
            (
                "load.stages.0.for=5s",
                "load.stages.0.for",
                V::String("5s".into()),
            ),
            (
                "load.stages.2={ for = \"3s\", to = 0 }",
                "load.stages.2.to",
                V::Integer(0),
            ),
            ("server.fail_rate=0.5", "server.fail_rate", V::Float(0.5)),
            (
                "http.insecure_tls=true",
                "http.insecure_tls",
                V::Boolean(true),
            ),
            ("name=\"quoted\"", "name", V::String("quoted".into())),
            (
                "target=https://h.example/x?a=b",
                "target",
                V::String("https://h.example/x?a=b".into()),
            ),
            (
                "retry.retry_on=[\"cut\"]",
                "retry.retry_on.0",
                V::String("cut".into()),
            ),
            (
                "faults.0.kind=shutdown",
                "faults.0.kind",
                V::String("shutdown".into()),
            ),
            (
                "faults.1={ at = \"9s\" }",
                "faults.1.at",
                V::String("9s".into()),
            ),
            (
                "thresholds.\"ttfe.p99\"=< 2s",
                "thresholds",
                V::Table(toml::Table::from_iter([(
                    "ttfe.p99".to_owned(),
                    V::String("< 2s".into()),
                )])),
            ),
            (
                "retry.backoff.base=2s",
                "retry.backoff.base",
                V::String("2s".into()),
            ),
        ] {
            let table = apply(&[set]).unwrap_or_else(|err| panic!("{set}: {err}"));
            assert_eq!(get(&table, path), &want, "{set}");
        }
    }

    #[test]
    fn keeps_line_numbers_of_untouched_keys() {
        let mut doc: DocumentMut = BASE.parse().expect("valid");
        Override::parse("load.stages.0.to=77")
            .expect("parses")
            .apply(&mut doc, Path::new("t.toml"))
            .expect("applies");
        let text = doc.to_string();
        assert_eq!(text.lines().position(|l| l.contains("to = 77")), Some(4));
        assert_eq!(text.lines().position(|l| l == "[[faults]]"), Some(8));
    }

    #[test]
    fn refuses_bad_overrides() {
        for (set, want) in [
            ("no-equals", "needs the form"),
            ("=5", "not a key path"),
            ("a..b=1", "not a key path"),
            ("load.stages.5.to=1", "past the end"),
            ("load.stages.x.to=1", "is an array"),
            ("name.x=1", "plain value"),
            ("retry.retry_on.0=cut", "cannot be indexed"),
            ("faults.0=5", "give an inline table"),
            ("a.b.c=1", "key `a`: unknown key"),
            ("laod.think_time=1s", "key `laod`: unknown key; did you mean `load`?"),
            (
                "load.stagse.0.for=1s",
                "key `load.stagse`: unknown key; did you mean `stages`? (from --set load.stagse.0.for=1s)",
            ),
            ("faults.0.knd=stall", "key `faults.0.knd`: unknown key; did you mean `kind`?"),
            ("retry.backoff.bse=1s", "did you mean `base`?"),
        ] {
            let err = apply(&[set]).expect_err(set);
            assert!(err.contains(want), "{set}: {err}");
        }
    }
}

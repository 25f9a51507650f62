//! `scenario.toml` of a report folder: the scenario document as it was run
//! (with `--target` and `--set` applied), written at the start of a run so
//! that a killed run's folder still says what was run and with which
//! thresholds (`streamsoak report` reads them from it).
//!
//! Nothing secret is written: every `[request] headers` value becomes
//! `"<redacted>"`, credentials in a literal `target` URL are stripped, and
//! `${VAR}` references stay as written — the document is the one before
//! expansion, so no expanded value can be in it. The rest is the user's own
//! text, comments and layout included.

use toml_edit::{DocumentMut, ImDocument, Item, Value};

/// What replaces a header value.
pub const REDACTED: &str = "<redacted>";

/// The text of `scenario.toml` for the document `doc` (overrides applied).
pub(super) fn render(doc: &ImDocument<String>, overrides: &[String]) -> String {
    let mut doc: DocumentMut = doc.clone().into_mut();
    if let Some(headers) = doc
        .get_mut("request")
        .and_then(|r| r.get_mut("headers"))
        .and_then(Item::as_table_like_mut)
    {
        for (_, value) in headers.iter_mut() {
            if value.is_value() {
                *value = toml_edit::value(REDACTED);
            }
        }
    }
    if let Some(item) = doc.get_mut("target") {
        if let Some(url) = item.as_str() {
            let stripped = crate::client::redact_url(url);
            if stripped != url {
                *item = Item::Value(Value::from(stripped));
            }
        }
    }
    let mut out = String::from(
        "# The scenario as run by streamsoak (header values redacted, ${VAR} not expanded).\n",
    );
    for o in overrides {
        out.push_str("# applied: ");
        out.push_str(&o.replace('\n', " "));
        out.push('\n');
    }
    out.push_str(&doc.to_string());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> ImDocument<String> {
        ImDocument::parse(text.to_owned()).expect("valid TOML")
    }

    #[test]
    fn redacts_headers_and_target_credentials_keeps_the_rest() {
        for (text, kept, gone) in [
            (
                "name = \"a\"\n[request]\nheaders = { Authorization = \"Bearer sk-live-123\", X-Key = \"${KEY}\" }\n",
                &["name = \"a\"", "Authorization = \"<redacted>\"", "X-Key = \"<redacted>\""][..],
                &["sk-live-123", "${KEY}"][..],
            ),
            (
                "name = \"a\"\n[request.headers]\n# a comment\nAuthorization = \"Bearer t0ken\"\n",
                &["# a comment", "Authorization = \"<redacted>\""][..],
                &["t0ken"][..],
            ),
            (
                "name = \"a\"\ntarget = \"https://user:hunter2@staging.example.com/api\"\n",
                &["target = \"https://staging.example.com/api\""][..],
                &["hunter2"][..],
            ),
            (
                // ${VAR} in the target stays as written: never expanded here.
                "name = \"a\"\ntarget = \"${STAGING_URL}\"\n[thresholds]\nsuccess_rate = \">= 0.99\"\n",
                &["target = \"${STAGING_URL}\"", "success_rate = \">= 0.99\""][..],
                &[][..],
            ),
        ] {
            let out = render(&doc(text), &["load.stages.0.to=5".to_owned()]);
            assert!(out.contains("# applied: load.stages.0.to=5"), "{out}");
            for k in kept {
                assert!(out.contains(k), "`{k}` kept in:\n{out}");
            }
            for g in gone {
                assert!(!out.contains(g), "`{g}` removed from:\n{out}");
            }
            assert!(out.parse::<toml::Table>().is_ok(), "still TOML:\n{out}");
        }
    }

    #[test]
    fn a_loaded_scenario_carries_its_resolved_text_which_loads_again() {
        use crate::scenario::{load_str, LoadOptions};
        let text = "name = \"r\"\n[request]\nheaders = { Authorization = \"Bearer ${TOKEN}\" }\n\
                    [load]\nstages = [ { for = \"1s\", to = 2 } ]\n[thresholds]\nsuccess_rate = \">= 0.9\"\n";
        let env = |name: &str| (name == "TOKEN").then(|| "tok-123".to_owned());
        let opts = LoadOptions {
            sets: vec![
                "load.stages.0.to=5".to_owned(),
                "request.headers.X-Key=literal-secret".to_owned(),
            ],
            target: None,
            env: &env,
            lenient_env: false,
        };
        let s = load_str(text, std::path::Path::new("r.toml"), &opts).expect("valid");
        let resolved = &s.resolved;
        for kept in [
            "to = 5",
            "Authorization = \"<redacted>\"",
            "# applied: --set load.stages.0.to=5",
        ] {
            assert!(resolved.contains(kept), "`{kept}` in\n{resolved}");
        }
        for gone in ["tok-123", "literal-secret", "${TOKEN}"] {
            assert!(!resolved.contains(gone), "`{gone}` not in\n{resolved}");
        }
        let again = load_str(
            resolved,
            std::path::Path::new("scenario.toml"),
            &LoadOptions::from_env(),
        )
        .expect("scenario.toml loads again");
        assert_eq!(again.load.plan, s.load.plan);
        let conditions = |t: &[crate::scenario::thresholds::Threshold]| -> Vec<(String, String)> {
            t.iter()
                .map(|t| (t.key.clone(), t.condition.clone()))
                .collect()
        };
        assert_eq!(conditions(&again.thresholds), conditions(&s.thresholds));
        assert_eq!(again.request.headers.len(), 2);
    }
}

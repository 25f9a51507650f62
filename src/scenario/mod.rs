//! Scenario files: TOML in, a validated [`Scenario`] out, or a
//! [`ScenarioError`] naming file, line, column and key.
//!
//! # Pipeline
//! 1. parse the text with `toml_edit` (a syntax error has a span; the
//!    key and text of its line are added by `locate::syntax_error`);
//! 2. apply `--target` and `--set` to the document (`overrides.rs`), refusing
//!    a `--set` key the scenario does not have;
//! 3. walk the document against the `Raw*` field lists and report the first
//!    unknown key with the nearest valid one (`locate.rs`);
//! 4. deserialize into `Raw*` types with `toml` (type errors have spans);
//! 5. validate and default into [`Scenario`] (`validate.rs`), expanding
//!    `${VAR}` from an injectable environment and compiling bodies once.
//!
//! # Layout
//! - `spec.rs` — the typed model ([`Scenario`], `*Spec`, [`ClientSettings`]) and defaults
//! - `raw.rs` — serde mirror of the file
//! - `validate.rs` — raw → typed, every check
//! - `units.rs` — [`HumanDuration`], [`ByteSize`]
//! - `template.rs` — `${VAR}`, [`BodyTemplate`], [`Secret`]
//! - `overrides.rs` — `--set`
//! - `locate.rs`, `error.rs` — positions, [`ScenarioError`], suggestions
//! - `resolved.rs` — `scenario.toml` of a report folder (secrets redacted)
//! - `plan.rs` — [`LoadSpec::plan`] (the engine's stage math), [`Scenario::describe`] and [`Scenario::plan_digest`]
//! - `start_at.rs` — `run --start-at` (RFC 3339 or `+90s`) → the instant every shard starts

mod error;
mod locate;
mod overrides;
mod plan;
mod prompts;
mod raw;
pub mod resolved;
mod spec;
pub mod start_at;
pub mod template;
pub mod thresholds;
pub mod units;
mod validate;

use std::fmt;
use std::path::Path;

use toml_edit::ImDocument;

pub use error::{nearest, ScenarioError};
pub use spec::*;
pub use template::{BodyTemplate, Secret};
pub use units::{ByteSize, HumanDuration};

use locate::{check_unknown_keys, syntax_error, Locator};
use overrides::Override;

/// How to load a scenario: command-line overrides and the environment.
pub struct LoadOptions<'a> {
    /// `--set key.path=value` arguments (without the `--set`), applied in order.
    pub sets: Vec<String>,
    /// `--target URL`: replaces `target` (applied before `sets`).
    pub target: Option<String>,
    /// Looks up `${VAR}`s; [`LoadOptions::from_env`] reads the process environment.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// `check`: an unset `${VAR}` is not an error but a name in
    /// [`Scenario::unset_vars`] (its value reads as empty), so CI can lint
    /// scenarios before secrets exist. `run` leaves it false and refuses.
    pub lenient_env: bool,
}

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl LoadOptions<'static> {
    /// No overrides; `${VAR}` read from the process environment.
    pub fn from_env() -> Self {
        LoadOptions {
            sets: Vec::new(),
            target: None,
            env: &process_env,
            lenient_env: false,
        }
    }
}

impl Default for LoadOptions<'static> {
    /// Same as [`LoadOptions::from_env`].
    fn default() -> Self {
        LoadOptions::from_env()
    }
}

impl fmt::Debug for LoadOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadOptions")
            .field("sets", &self.sets)
            .field("target", &self.target)
            .field("lenient_env", &self.lenient_env)
            .finish_non_exhaustive()
    }
}

/// Loads and validates a scenario file for `run` / `check` (`name` required).
pub fn load(path: &Path, opts: &LoadOptions<'_>) -> Result<Scenario, ScenarioError> {
    load_str(&read(path)?, path, opts)
}

/// [`load`] from text; `file` names it in errors and anchors `bodies_file`.
pub fn load_str(
    text: &str,
    file: &Path,
    opts: &LoadOptions<'_>,
) -> Result<Scenario, ScenarioError> {
    load_inner(text, file, opts, true)
}

/// The `[request]`, `[stream]`, `[retry]`, `[breaker]`, `[http]` (and
/// `target`, `seed`, `[server]`) settings of a scenario file, for
/// `streamsoak stream --scenario`. The whole file is still validated, but
/// `name` is not required.
pub fn load_client_settings(
    path: &Path,
    opts: &LoadOptions<'_>,
) -> Result<ClientSettings, ScenarioError> {
    load_client_settings_str(&read(path)?, path, opts)
}

/// [`load_client_settings`] from text.
pub fn load_client_settings_str(
    text: &str,
    file: &Path,
    opts: &LoadOptions<'_>,
) -> Result<ClientSettings, ScenarioError> {
    load_inner(text, file, opts, false).map(|s| s.client_settings())
}

fn read(path: &Path) -> Result<String, ScenarioError> {
    std::fs::read_to_string(path).map_err(|err| {
        ScenarioError::unplaced(path, "", format!("cannot read the scenario file: {err}"))
    })
}

fn load_inner(
    text: &str,
    file: &Path,
    opts: &LoadOptions<'_>,
    need_name: bool,
) -> Result<Scenario, ScenarioError> {
    let mut overrides = Vec::new();
    if let Some(target) = &opts.target {
        overrides.push(Override::string(
            &["target"],
            target,
            format!("--target {target}"),
        ));
    }
    for set in &opts.sets {
        let key = set.split('=').next().unwrap_or_default().trim();
        overrides.push(Override::parse(set).map_err(|m| ScenarioError::unplaced(file, key, m))?);
    }
    let syntax = |text: &str, err: toml_edit::TomlError| syntax_error(file, text, &err);
    let original = ImDocument::parse(text.to_owned()).map_err(|err| syntax(text, err))?;
    let edited;
    let current = if overrides.is_empty() {
        &original
    } else {
        let mut doc = original.clone().into_mut();
        for o in &overrides {
            o.apply(&mut doc, file)?;
        }
        let text = doc.to_string();
        edited = ImDocument::parse(text.clone()).map_err(|err| syntax(&text, err))?;
        &edited
    };
    let locator = Locator {
        file,
        original: &original,
        overrides: &overrides,
    };
    check_unknown_keys(current, &locator)?;
    let raw: raw::RawScenario = toml::from_str(current.raw())
        .map_err(|err| locator.error_at_span(current, err.span(), err.message()))?;
    let base_dir = file.parent().unwrap_or_else(|| Path::new("."));
    let ctx = validate::Ctx {
        loc: &locator,
        env: opts.env,
        base_dir,
        lenient_env: opts.lenient_env,
        unset: Default::default(),
    };
    let mut scenario = validate::scenario(raw, &ctx, need_name)?;
    let applied: Vec<String> = opts
        .target
        .iter()
        .map(|t| format!("--target {}", crate::client::redact_url(t)))
        .chain(opts.sets.iter().map(|s| format!("--set {}", redact_set(s))))
        .collect();
    scenario.resolved = resolved::render(current, &applied);
    Ok(scenario)
}

/// A `--set` for `scenario.toml`'s comment: a header's value is redacted,
/// a target's credentials stripped.
fn redact_set(set: &str) -> String {
    match set.split_once('=') {
        Some((key, _)) if key.trim().starts_with("request.headers") => {
            format!("{key}={}", resolved::REDACTED)
        }
        Some((key, value)) if key.trim() == "target" => {
            format!("{key}={}", crate::client::redact_url(value))
        }
        _ => set.to_owned(),
    }
}

#[cfg(test)]
mod tests;

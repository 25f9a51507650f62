//! Fuzzes the scenario loader: any bytes, as a scenario file, load or fail
//! with a `ScenarioError` — never a panic — and a loaded scenario describes
//! itself. The environment is a fixed map, so runs are reproducible.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use streamsoak::scenario::{load_str, LoadOptions};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = |name: &str| (name == "TOKEN").then(|| "fuzz-token".to_owned());
    let opts = LoadOptions {
        sets: Vec::new(),
        target: None,
        env: &env,
        // Both loaders: `run`'s (an unset ${VAR} is an error) and `check`'s.
        lenient_env: data.len() % 2 == 1,
    };
    if let Ok(scenario) = load_str(text, Path::new("fuzz.toml"), &opts) {
        let _ = scenario.describe();
    }
});

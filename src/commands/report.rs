//! `streamsoak report DIR [--thresholds FILE]`: regenerate the summaries of
//! a report folder from its raw data, optionally re-gated.

use crate::cli::ReportArgs;
use crate::error::Error;
use crate::report::reader::read_folder;
use crate::report::{console_summary, write_final, write_summaries};
use crate::scenario::thresholds::{evaluate, Threshold};

/// Rebuilds summary.csv, summary.json, latency.csv, thresholds.csv,
/// junit.xml, summary.md and report.html (and, for a killed run, errors.csv,
/// faults.csv and sessions.csv); exit 0 when every threshold holds, 1
/// otherwise.
pub(super) fn run(args: ReportArgs) -> Result<u8, Error> {
    if !args.dir.join("summary.csv").is_file() && args.dir.join("scenario.toml").is_file() {
        return Err(Error::Usage(format!(
            "{}: the run stopped before it wrote any figures (only scenario.toml is there): nothing to report",
            args.dir.display()
        )));
    }
    if !args.dir.join("summary.csv").is_file() {
        return Err(Error::Usage(format!(
            "{} is not a report folder (no summary.csv): give the folder `streamsoak run` wrote",
            args.dir.display()
        )));
    }
    let folder = read_folder(&args.dir)?;
    let pairs = match &args.thresholds {
        Some(file) => thresholds_from_file(file)?,
        None => folder.thresholds.clone(),
    };
    let mut thresholds = Vec::new();
    for (key, condition) in &pairs {
        let threshold = Threshold::parse(key, condition)
            .map_err(|msg| Error::Usage(format!("threshold `{key}` = \"{condition}\": {msg}")))?;
        thresholds.push(threshold);
    }
    let results = evaluate(&thresholds, &folder.summary);
    if folder.summary.complete {
        write_summaries(&args.dir, &folder.summary, &results)?;
    } else {
        // A killed run never wrote its end-of-run files: write them all.
        write_final(&args.dir, &folder.summary, &results)?;
    }
    eprint!("{}", console_summary(&folder.summary, &results, &args.dir));
    Ok(if results.iter().all(|r| r.passed) {
        0
    } else {
        1
    })
}

/// Parses (key, condition) pairs as written in a report folder or TOML file.
pub(super) fn parse_thresholds(pairs: &[(String, String)]) -> Result<Vec<Threshold>, Error> {
    pairs
        .iter()
        .map(|(key, condition)| {
            Threshold::parse(key, condition)
                .map_err(|msg| Error::Usage(format!("threshold `{key}` = \"{condition}\": {msg}")))
        })
        .collect()
}

/// The `[thresholds]` table of a TOML file (a scenario or a file with only that table).
fn thresholds_from_file(file: &std::path::Path) -> Result<Vec<(String, String)>, Error> {
    let text = std::fs::read_to_string(file).map_err(|err| Error::io(file, err))?;
    let table: toml::Table = text
        .parse()
        .map_err(|err| Error::Usage(format!("{}: {err}", file.display())))?;
    let Some(thresholds) = table.get("thresholds").and_then(toml::Value::as_table) else {
        return Err(Error::Usage(format!(
            "{}: no [thresholds] table",
            file.display()
        )));
    };
    thresholds
        .iter()
        .map(|(key, value)| match value.as_str() {
            Some(condition) => Ok((key.clone(), condition.to_owned())),
            None => Err(Error::Usage(format!(
                "{}: threshold `{key}` must be a string such as \"< 1s\"",
                file.display()
            ))),
        })
        .collect()
}

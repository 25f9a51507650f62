//! `streamsoak merge DIR… --out DIR`: shard folders → one report.

use crate::cli::MergeArgs;
use crate::error::Error;
use crate::report::merge::merge;
use crate::report::{console_summary, write_final};
use crate::scenario::thresholds::evaluate;

/// Merges, re-evaluates the thresholds on the merged result, writes the
/// report; exit 0 when every threshold holds, 1 otherwise.
pub(super) fn run(args: MergeArgs) -> Result<u8, Error> {
    for dir in &args.dirs {
        if !dir.join("summary.csv").is_file() {
            return Err(Error::Usage(format!(
                "{} is not a report folder (no summary.csv)",
                dir.display()
            )));
        }
    }
    let out = super::run::prepare_out_dir(Some(&args.out), "merged", args.force)?;
    let merged = merge(&args.dirs, &out)?;
    let thresholds = super::report::parse_thresholds(&merged.thresholds)?;
    let results = evaluate(&thresholds, &merged.summary);
    write_final(&out, &merged.summary, &results)?;
    eprint!("{}", console_summary(&merged.summary, &results, &out));
    Ok(if results.iter().all(|r| r.passed) {
        0
    } else {
        1
    })
}

//! One module per command; each turns validated arguments into behaviour
//! and returns the process exit code (0/1) or an [`Error`] (2/3).

mod merge;
mod metrics;
mod report;
mod run;
mod serve;
mod stream;

use crate::cli::{Cli, Command};
use crate::error::Error;
use metrics::{metrics_addr, metrics_linger};

/// Sets up stderr logging: `-v` debug, `-vv` trace for streamsoak; `RUST_LOG` wins when set.
pub fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "warn,streamsoak=debug",
        _ => "warn,streamsoak=trace",
    };
    let env = env_logger::Env::default().default_filter_or(level);
    let _ = env_logger::Builder::from_env(env)
        .format_timestamp_millis()
        .try_init();
}

/// Runs the chosen command.
///
/// # Errors
/// Usage and scenario errors (exit 2), I/O and report errors (exit 3).
pub fn dispatch(cli: Cli) -> Result<u8, Error> {
    match cli.command {
        Command::Stream(args) => stream::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Run(args) => run::run(args),
        Command::Check(args) => run::check(args),
        Command::Report(args) => report::run(args),
        Command::Merge(args) => merge::run(args),
    }
}

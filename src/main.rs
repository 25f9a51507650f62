//! `streamsoak` binary: parse, dispatch, exit code. Nothing else.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = streamsoak::cli::Cli::parse();
    streamsoak::commands::init_logging(cli.verbose);
    match streamsoak::commands::dispatch(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("streamsoak: error: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}

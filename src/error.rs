//! The top-level error: what failed in the tool (not in the target), and
//! which exit code it means.
//!
//! Target failures are data ([`crate::client::FailureKind`]), never this type.

use std::path::PathBuf;

use crate::report::ReportError;
use crate::scenario::ScenarioError;

/// A failure of the tool itself or of its input.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad command-line usage; the message says what to change.
    #[error("{0}")]
    Usage(String),
    /// The scenario is invalid; the message names file, line and key.
    #[error(transparent)]
    Scenario(#[from] Box<ScenarioError>),
    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A report could not be produced.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// The runtime failed (thread or server could not start).
    #[error("{0}")]
    Runtime(String),
}

impl From<ScenarioError> for Error {
    fn from(err: ScenarioError) -> Self {
        Error::Scenario(Box::new(err))
    }
}

impl Error {
    /// 2 for usage and scenario errors, 3 for everything the tool failed at.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) | Error::Scenario(_) | Error::Report(ReportError::Mismatch { .. }) => 2,
            Error::Io { .. } | Error::Report(_) | Error::Runtime(_) => 3,
        }
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

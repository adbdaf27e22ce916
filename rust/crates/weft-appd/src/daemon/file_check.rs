//! A store package's file check, run beside its runtime's start: the
//! signature and the manifest are checked before the runtime starts, every
//! other file meanwhile, and the runtime instantiates the app only once told
//! the check passed (`--verified-fd`, a pipe): nothing of a package whose
//! files are not the signed ones runs.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::pipe::{PipeFlags, pipe_with};
use weft_protocol::runtime::PACKAGE_VERIFIED;
use weft_verify::package::PackageError;
use weft_verify::statement::Statement;

use super::*;

/// The check of a package's files, running on the blocking pool, and the
/// pipe on which its runtime hears the outcome.
pub(super) struct FileCheck {
    task: tokio::task::JoinHandle<Result<(), PackageError>>,
    runtime_end: OwnedFd,
    supervisor_end: OwnedFd,
}

impl FileCheck {
    /// Starts checking every file of the package in `dir` against the
    /// `statement` already verified.
    pub(super) fn start(dir: PathBuf, statement: Statement) -> std::io::Result<Self> {
        let (runtime_end, supervisor_end) = pipe_with(PipeFlags::CLOEXEC)?;
        let task = tokio::task::spawn_blocking(move || {
            weft_verify::package::check_files(&dir, &statement)
        });
        Ok(Self { task, runtime_end, supervisor_end })
    }

    /// The pipe's end the runtime reads (`--verified-fd`).
    pub(super) fn runtime_end(&self) -> BorrowedFd<'_> {
        self.runtime_end.as_fd()
    }

    /// Waits for the check; if it passed, tells the runtime. If not, the
    /// runtime hears the pipe's end and refuses, and the failure says what
    /// differs.
    pub(super) async fn outcome(self) -> Result<(), Failure> {
        let Self { task, runtime_end, supervisor_end } = self;
        drop(runtime_end);
        let checked = task
            .await
            .map_err(|error| Failure::new(ErrorCode::LaunchFailed, error.to_string()))?
            .map_err(|error| {
                Failure::new(
                    ErrorCode::VerificationFailed,
                    format!("{:#}", anyhow::Error::from(error)),
                )
            });
        if checked.is_ok() {
            // One byte into an empty pipe: never blocks. A runtime that has
            // already exited is seen by the supervision that follows.
            let _ = rustix::io::write(&supervisor_end, &[PACKAGE_VERIFIED]);
        }
        checked
    }
}

//! Running the `braid` binary from the command-line tests.

// Each test binary uses a part of it.
#![allow(dead_code)]

use std::process::{Command, Output};

/// What a run of `braid` gave back.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `command` (a `braid` invocation) to its end.
pub fn run(command: &mut Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().expect("run braid");
    Run {
        code: status.code(),
        stdout: String::from_utf8(stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(stderr).expect("stderr is UTF-8"),
    }
}

/// `braid ARGS`.
pub fn braid(args: &[&str]) -> Run {
    run(Command::new(env!("CARGO_BIN_EXE_braid")).args(args))
}

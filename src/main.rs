//! The `scimgate` binary: everything lives in the crates; this only starts the CLI.

use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match scimgate_server::cli::main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // The cause chain on one line, for people and scripts; no backtrace.
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

//! The `scimgate` binary: everything lives in the crates; this only starts the CLI.

fn main() -> anyhow::Result<()> {
    scimgate_server::cli::main()
}

//! The `scimgate` binary: everything lives in the crates; this only starts the CLI.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    scimgate_server::cli::main()
}

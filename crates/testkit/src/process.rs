//! `scimgate serve` as a real process on a free port, for tests that need replicas or
//! the CLI working beside a running server.

use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

pub struct ServeProcess {
    pub child: tokio::process::Child,
    /// `http://127.0.0.1:PORT`, as the server printed it.
    pub base: String,
}

impl ServeProcess {
    /// Starts `bin serve` on the database with `extra` serve flags; returns once it
    /// listens (it prints the bound address on its first line).
    pub async fn start(bin: &str, database_url: &str, extra: &[&str]) -> ServeProcess {
        Self::start_at(bin, database_url, "127.0.0.1:0", &[], extra).await
    }

    /// Starts `bin [global…] serve --listen listen [extra…]` (global: say `--config FILE`).
    pub async fn start_at(
        bin: &str,
        database_url: &str,
        listen: &str,
        global: &[&str],
        extra: &[&str],
    ) -> ServeProcess {
        let mut child = tokio::process::Command::new(bin)
            .args(["--database-url", database_url])
            .args(global)
            .args(["serve", "--listen", listen])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let base = line
            .strip_prefix("scimgate listening on ")
            .unwrap()
            .to_owned();
        ServeProcess { child, base }
    }

    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

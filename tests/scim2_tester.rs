//! python-scim's scim2-tester, the whole suite (discovery, then create / read / list /
//! search / replace / delete and PATCH add / remove / replace of every attribute of Users
//! and Groups), against the real server on SQLite and PostgreSQL. A strict client built on
//! the same models must be able to talk to scimgate; this is that client.
//!
//! The tester comes from `scripts/ensure-scim2-tester.sh` (a venv at
//! `target/scim2-tester-venv`, or `$SCIMGATE_SCIM2_TESTER_VENV`). Without it the test is
//! skipped with a note, unless `SCIMGATE_TEST_REQUIRE_SCIM2_TESTER=1` (set by `.ci/run`).

use scimgate_testkit::{on_both_backends, DbBackend, TestServer};
use std::path::{Path, PathBuf};

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn tester_python() -> Option<PathBuf> {
    let venv = std::env::var("SCIMGATE_SCIM2_TESTER_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace_root().join("target/scim2-tester-venv"));
    let python = venv.join("bin/python");
    if python.exists() {
        return Some(python);
    }
    let required =
        std::env::var("SCIMGATE_TEST_REQUIRE_SCIM2_TESTER").is_ok_and(|v| v == "1" || v == "true");
    assert!(
        !required,
        "scim2-tester is required for this run but {} is missing: run scripts/ensure-scim2-tester.sh",
        python.display()
    );
    eprintln!("note: scim2-tester skipped: run scripts/ensure-scim2-tester.sh to install it");
    None
}

async fn the_scim2_tester_suite_passes(backend: DbBackend) {
    let Some(python) = tester_python() else {
        return;
    };
    let Some(s) = TestServer::start(backend).await else {
        return;
    };
    let script = workspace_root().join("tests/scim2_tester/run.py");
    let output = tokio::process::Command::new(python)
        .arg(script)
        .arg(s.scim(""))
        .arg(&s.token)
        .arg("--verbose")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let summary = stdout
        .lines()
        .rfind(|l| l.starts_with("scim2-tester:"))
        .unwrap_or("(no summary line)");
    eprintln!("{backend:?}: {summary}");
    // `.ci/run` prints these after the tests: how many checks ran, on each database.
    let report = workspace_root().join("target/scim2-tester-summary.txt");
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(report)
    {
        use std::io::Write;
        let _ = writeln!(file, "{backend:?}: {summary}");
    }
    let failures: Vec<&str> = stdout
        .lines()
        .filter(|l| {
            l.contains(": ERROR:") || l.contains(": CRITICAL:") || l.starts_with("    data:")
        })
        .collect();
    assert!(
        output.status.success(),
        "scim2-tester failed ({summary}):\n{}\n{stderr}",
        failures.join("\n")
    );
    // The whole suite ran, not discovery alone: each resource type's create / read /
    // replace / delete and per-attribute PATCH checks are there (0.5.2 runs 92 and 18).
    for (kind, at_least) in [("User/", 80), ("Group/", 15)] {
        let ran = stdout.lines().filter(|l| l.starts_with(kind)).count();
        assert!(ran >= at_least, "only {ran} {kind} checks ran:\n{stdout}");
    }
}

on_both_backends!(the_scim2_tester_suite_passes);

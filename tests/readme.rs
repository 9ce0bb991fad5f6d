//! The README's walkthrough, run as a newcomer would paste it: every ```sh block between
//! `<!-- walkthrough:start -->` and `<!-- walkthrough:end -->`, in order, as one
//! `bash -euo pipefail` script, with the `scimgate` this test was built with first on
//! `PATH`. The only line left out is the one-time `cargo build` step the README marks.
//! Then what the README promises is checked against what the commands printed.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_scimgate");
const START: &str = "<!-- walkthrough:start -->";
const END: &str = "<!-- walkthrough:end -->";
/// Lines containing this are the one-time build step: the test brings its own build.
const BUILD_STEP: &str = "cargo build";
/// A debug build on a busy machine; the walkthrough itself takes a few seconds.
const DEADLINE: Duration = Duration::from_secs(180);

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The walkthrough's shell blocks as one script, and the lines it left out.
fn walkthrough_script(readme: &str) -> (String, Vec<String>) {
    let start = readme
        .find(START)
        .unwrap_or_else(|| panic!("README.md has no {START} marker"));
    let section = &readme[start + START.len()..];
    let end = section
        .find(END)
        .unwrap_or_else(|| panic!("README.md has no {END} after {START}"));
    let section = &section[..end];
    let mut script = String::new();
    let mut skipped = Vec::new();
    let mut in_block = false;
    let mut blocks = 0;
    for line in section.lines() {
        match (in_block, line.trim_end()) {
            (false, "```sh") => {
                in_block = true;
                blocks += 1;
                writeln!(script, "# --- block {blocks}").unwrap();
            }
            (true, "```") => in_block = false,
            (true, _) if line.contains(BUILD_STEP) => {
                // Kept as a comment, so bash's line numbers still match the script shown.
                writeln!(script, "# skipped by tests/readme.rs: {line}").unwrap();
                skipped.push(line.to_owned());
            }
            (true, _) => writeln!(script, "{line}").unwrap(),
            (false, _) => {}
        }
    }
    assert!(!in_block, "a ```sh block in the walkthrough is not closed");
    assert!(blocks >= 5, "only {blocks} ```sh blocks in the walkthrough");
    (script, skipped)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills the script's whole process group (the script and the server it started in the
/// background) when dropped: after the script, on a timeout, and when an assertion fails.
struct ProcessGroup(u32);

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// What the script printed, and everything needed to explain a failure.
struct Transcript {
    script: String,
    status: String,
    stdout: String,
    stderr: String,
}

impl Transcript {
    fn lines(&self) -> impl Iterator<Item = &str> {
        self.stdout.lines()
    }

    fn failure(&self, what: &str) -> String {
        let numbered: String = self
            .script
            .lines()
            .enumerate()
            .map(|(n, l)| format!("{:>4} {l}\n", n + 1))
            .collect();
        format!(
            "{what}\n\n--- script (README walkthrough) ---\n{numbered}\n--- exit: {} ---\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
    }

    fn check(&self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            panic!("{}", self.failure(&what()));
        }
    }

    /// Lines equal to `line`.
    fn count(&self, line: &str) -> usize {
        self.lines().filter(|l| l.trim_end() == line).count()
    }

    fn starting_with<'a>(&'a self, prefix: &'a str) -> Vec<&'a str> {
        self.lines().filter(|l| l.starts_with(prefix)).collect()
    }
}

fn run_walkthrough() -> (Transcript, u16) {
    let root = repo_root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let (script, skipped) = walkthrough_script(&readme);
    assert_eq!(
        skipped.len(),
        1,
        "exactly one line (the one-time `{BUILD_STEP}`) may be skipped; skipped: {skipped:?}"
    );
    let curl = Command::new("curl").arg("--version").output();
    assert!(
        curl.is_ok_and(|o| o.status.success()),
        "the README walkthrough needs curl on PATH"
    );

    // A scratch directory, as a fresh checkout would have it for the walkthrough: the
    // example rules and catalogue, nothing else (no target/, no database).
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&root.join("rules"), &dir.path().join("rules"));
    let script_path = dir.path().join("walkthrough.sh");
    std::fs::write(&script_path, &script).unwrap();
    let stdout_path = dir.path().join("stdout.txt");
    let stderr_path = dir.path().join("stderr.txt");
    let port = free_port();
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = match std::env::var_os("PATH") {
        Some(rest) => {
            let mut dirs = vec![bin_dir.to_path_buf()];
            dirs.extend(std::env::split_paths(&rest));
            std::env::join_paths(dirs).unwrap()
        }
        None => bin_dir.as_os_str().to_owned(),
    };

    let mut command = Command::new("bash");
    command
        .args(["-euo", "pipefail"])
        .arg(&script_path)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        // Its own process group, so the server the script starts can be killed with it.
        .process_group(0);
    // Nothing from the caller's scimgate set-up leaks in (a SCIMGATE_LISTEN or a
    // PostgreSQL URL would change what the walkthrough does).
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("SCIMGATE_") {
            command.env_remove(&key);
        }
    }
    command.env("PATH", path).env("PORT", port.to_string()).env(
        "SCIMGATE_DATABASE_URL",
        dir.path().join("walkthrough.db").to_str().unwrap(),
    );
    let mut child = command.spawn().unwrap();
    let group = ProcessGroup(child.id());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > DEADLINE {
            drop(group);
            let _ = child.wait();
            let transcript = Transcript {
                script,
                status: format!("killed after {DEADLINE:?}"),
                stdout: std::fs::read_to_string(&stdout_path).unwrap_or_default(),
                stderr: std::fs::read_to_string(&stderr_path).unwrap_or_default(),
            };
            panic!(
                "{}",
                transcript.failure("the walkthrough did not finish in time")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let success = status.success();
    // Whatever the script did, nothing it started outlives it. The README's own last
    // step stops the server; that is checked below, before this group kill matters.
    let server_stopped = success && port_closes(port);
    drop(group);
    let transcript = Transcript {
        script,
        status: status.to_string(),
        stdout: std::fs::read_to_string(&stdout_path).unwrap(),
        stderr: std::fs::read_to_string(&stderr_path).unwrap(),
    };
    transcript.check(success, || "the walkthrough failed".into());
    transcript.check(server_stopped, || {
        format!("the walkthrough's last step left the server running on port {port}")
    });
    (transcript, port)
}

/// Whether nothing listens on the port any more (within a few seconds of graceful
/// shutdown).
fn port_closes(port: u16) -> bool {
    let until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < until {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// `seats PLAN: USED / PURCHASED` lines, per preview (a preview's seat lines follow its
/// totals line).
fn seats_per_preview(t: &Transcript) -> Vec<BTreeMap<String, (u64, String)>> {
    let mut previews: Vec<BTreeMap<String, (u64, String)>> = Vec::new();
    for line in t.lines() {
        if line.starts_with("users received ") {
            previews.push(BTreeMap::new());
        } else if let Some(rest) = line.strip_prefix("seats ") {
            let parsed = rest.rsplit_once(": ").and_then(|(plan, counts)| {
                let (used, purchased) = counts.split_once(" / ")?;
                Some((plan, used.parse::<u64>().ok()?, purchased))
            });
            let (plan, used, purchased) = parsed
                .unwrap_or_else(|| panic!("{}", t.failure(&format!("bad seats line {line:?}"))));
            let current = previews.last_mut().unwrap_or_else(|| {
                panic!("{}", t.failure("a seats line before any preview totals"))
            });
            current.insert(plan.to_owned(), (used, purchased.to_owned()));
        }
    }
    previews
}

fn accounts_listings(t: &Transcript) -> Vec<Vec<Value>> {
    t.starting_with("{\"accounts\":")
        .into_iter()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| {
                panic!(
                    "{}",
                    t.failure(&format!("accounts JSON does not parse: {e}"))
                )
            });
            v["accounts"].as_array().cloned().unwrap_or_default()
        })
        .collect()
}

fn by_username<'a>(accounts: &'a [Value], username: &str) -> &'a Value {
    accounts
        .iter()
        .find(|a| a["username"] == username)
        .unwrap_or_else(|| panic!("no account {username} in {accounts:?}"))
}

#[test]
fn readme_walkthrough_runs_and_does_what_it_says() {
    let (t, port) = run_walkthrough();
    let users = [
        "nina.dahl@acme.no",
        "ola.berg@acme.no",
        "kari.lund@acme.no",
        "lars.moe@acme.no",
    ];

    // Step 2: both tokens were captured from the --json output.
    let tokens = t.starting_with("tokens: ");
    t.check(
        tokens.len() == 1 && {
            let words: Vec<&str> = tokens[0].split_whitespace().collect();
            words.len() == 3 && words[1].starts_with("sgt_") && words[2].starts_with("sga_")
        },
        || format!("expected `tokens: sgt_… sga_…`, got {tokens:?}"),
    );
    // Step 3.
    t.check(
        t.count("catalogue of acme imported: 6 user plans, 4 companies, 14 groups, 10 roles") == 1
            && t.count("rule set of acme published as version 1: 4 rules") == 1,
        || "catalogue import or rules apply did not report what the README says".into(),
    );
    // Step 4: the server listened on $PORT and /healthz answered.
    t.check(
        t.count(&format!("scimgate listening on http://127.0.0.1:{port}")) == 1
            && t.count("ok") == 1,
        || format!("the server did not start on port {port} or /healthz did not answer"),
    );
    // Step 5: four distinct staged user ids.
    let ids: Vec<&str> = t
        .lines()
        .find(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words.len() == 4
                && words
                    .iter()
                    .all(|w| w.len() == 36 && w.matches('-').count() == 4)
        })
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    t.check(
        ids.len() == 4 && ids.iter().collect::<std::collections::HashSet<_>>().len() == 4,
        || "step 5 did not print four distinct user ids".into(),
    );
    // Steps 6 and 10: two groups created, the deactivating PATCH accepted.
    t.check(t.count("201") == 2 && t.count("200") == 1, || {
        "expected 201 twice (groups) and 200 once (the PATCH)".into()
    });

    // Step 7: the first preview creates everyone; step 12's finds nothing left to do.
    let totals = t.starting_with("users received ");
    t.check(
        totals
            == [
                "users received 4, will be synced 4: create 4, update 0, deprovision 0, unchanged 0, error 0",
                "users received 4, will be synced 3: create 0, update 0, deprovision 0, unchanged 4, error 0",
            ],
        || format!("unexpected preview totals {totals:?}"),
    );
    let creates = t.starting_with("create ");
    for (user, plan) in [
        ("nina.dahl@acme.no", "Sales Premium"),
        ("ola.berg@acme.no", "Sales Premium"),
        ("kari.lund@acme.no", "Standard"),
        ("lars.moe@acme.no", "Standard"),
    ] {
        t.check(
            creates
                .iter()
                .any(|l| l.split_whitespace().nth(1) == Some(user) && l.contains(plan)),
            || format!("the first preview has no `create {user} … {plan}` line"),
        );
    }
    t.check(creates.len() == 4, || {
        format!("expected 4 create lines: {creates:?}")
    });
    t.check(
        t.lines().any(|l| {
            l.starts_with("unchanged")
                && l.contains("ola.berg@acme.no")
                && l.ends_with("the user is inactive in the identity provider")
        }),
        || "the last preview does not say why Ola is not synced".into(),
    );

    // Steps 8 and 11: the syncs did what their preview said.
    let syncs = t.starting_with("run ");
    t.check(
        syncs
            == [
                "run 1 completed: created 4, updated 0, deprovisioned 0, unchanged 0, errors 0",
                "run 2 completed: created 0, updated 0, deprovisioned 1, unchanged 3, errors 0",
            ],
        || format!("unexpected sync results {syncs:?}"),
    );

    // Steps 7 and 12: the deprovision freed exactly one Sales Premium seat.
    let seats = seats_per_preview(&t);
    t.check(seats.len() == 2, || {
        format!("expected two previews, found {}", seats.len())
    });
    let (before, after) = (&seats[0], &seats[1]);
    t.check(
        before.get("Sales Premium") == Some(&(2, "80".into()))
            && after.get("Sales Premium") == Some(&(1, "80".into()))
            && before.get("Standard") == Some(&(2, "500".into()))
            && after.get("Standard") == Some(&(2, "500".into())),
        || format!("seats before {before:?}, after {after:?}"),
    );
    let used = |m: &BTreeMap<String, (u64, String)>| m.values().map(|(u, _)| u).sum::<u64>();
    t.check(used(before) == 4 && used(after) == 3, || {
        format!("seats in use should go from 4 to 3: {before:?} → {after:?}")
    });

    // Steps 9 and 12: the admin API lists the accounts, then Ola's as deactivated.
    let listings = accounts_listings(&t);
    t.check(listings.len() == 2, || {
        format!("expected two account listings, found {}", listings.len())
    });
    let all = &listings[0];
    t.check(all.len() == 4, || {
        format!("expected 4 accounts after the first sync: {all:?}")
    });
    for user in users {
        let a = by_username(all, user);
        t.check(
            a["active"] == true
                && a["email"] == user
                && a["staged_user_id"]
                    .as_str()
                    .is_some_and(|id| ids.contains(&id))
                && a["external_id"]
                    .as_str()
                    .is_some_and(|e| e.starts_with("1d4f6c1e-")),
            || format!("account {user} is not active and linked to its user: {a}"),
        );
    }
    let nina = by_username(all, "nina.dahl@acme.no");
    t.check(
        nina["user_plan"] == "Sales Premium"
            && nina["role"] == "Sales user"
            && nina["secondary_groups"] == serde_json::json!(["Nordics"]),
        || format!("Nina (Sales, Office Oslo) did not get what sales-plan.yaml gives: {nina}"),
    );
    let ola_before = by_username(all, "ola.berg@acme.no");
    let inactive = &listings[1];
    t.check(inactive.len() == 1, || {
        format!("expected exactly one inactive account: {inactive:?}")
    });
    let ola = &inactive[0];
    t.check(
        ola["username"] == "ola.berg@acme.no"
            && ola["pk"] == ola_before["pk"]
            && ola["active"] == false
            && ola["deactivated_at"].is_string()
            && ola["user_plan"] == "Sales Premium"
            && ola["role"] == "Sales user",
        || format!("Ola's account should be deactivated with its data kept: {ola}"),
    );

    // Step 12: the run history.
    let runs: Vec<&str> = t
        .lines()
        .filter(|l| l.contains("\tmanual_company\tcompleted\t"))
        .collect();
    t.check(
        runs.len() == 2
            && runs[0].starts_with("2\t")
            && runs[0].contains("deprovisioned 1")
            && runs[1].starts_with("1\t")
            && runs[1].contains("created 4"),
        || format!("`scimgate runs` should list runs 2 and 1, completed: {runs:?}"),
    );
}

/// The extraction itself: only ```sh blocks between the markers, the build line skipped.
#[test]
fn extraction_takes_only_the_marked_sh_blocks() {
    let readme = [
        "```sh",
        "not marked",
        "```",
        START,
        "prose",
        "```sh",
        "cargo build --release",
        "echo one",
        "```",
        "```yaml",
        "not: shell",
        "```",
        "```sh",
        "echo two",
        "```",
        "```sh",
        "echo three",
        "```",
        "```sh",
        "echo four",
        "```",
        "```sh",
        "echo five",
        "```",
        END,
        "```sh",
        "not marked either",
        "```",
    ]
    .join("\n");
    let (script, skipped) = walkthrough_script(&readme);
    assert_eq!(skipped, ["cargo build --release"]);
    let commands: Vec<&str> = script.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        commands,
        [
            "echo one",
            "echo two",
            "echo three",
            "echo four",
            "echo five"
        ]
    );
}

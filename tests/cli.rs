//! The `scimgate` binary as a user and a script run it: the CLI contract, `serve`, and
//! durability across a SIGKILL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use scimgate_testkit::process::ServeProcess;
use scimgate_testkit::{on_both_backends, DbBackend, TestDb};
use serde_json::{json, Value};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

const BIN: &str = env!("CARGO_BIN_EXE_scimgate");

fn scimgate(db: &TestDb, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        // Who the audit log and rule versions name for changes from this terminal.
        .env("USER", "audit-tester")
        .arg("--database-url")
        .arg(&db.url)
        .args(args)
        .output()
        .unwrap()
}

async fn serve(db: &TestDb) -> ServeProcess {
    ServeProcess::start(BIN, &db.url, &[]).await
}

fn create_tenant(db: &TestDb, name: &str) -> String {
    let out = scimgate(db, &["tenant", "create", name, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "exactly one line: {stdout}");
    let v: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["tenant"], name);
    assert_eq!(v["scim_path"], format!("/scim/v2/{name}"));
    assert_eq!(v.as_object().unwrap().len(), 3);
    v["token"].as_str().unwrap().to_owned()
}

async fn cli_contract(backend: DbBackend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let token = create_tenant(&db, "acme");
    let again = scimgate(&db, &["tenant", "create", "acme", "--json"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let bad = scimgate(&db, &["tenant", "create", "Not Valid"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("tenant name"));

    let second = scimgate(
        &db,
        &[
            "token", "create", "--tenant", "acme", "--label", "rotation", "--json",
        ],
    );
    assert!(second.status.success());
    let second: Value = serde_json::from_slice(&second.stdout).unwrap();
    let listed = scimgate(&db, &["token", "list", "--tenant", "acme", "--json"]);
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert_eq!(listed.lines().count(), 2);
    assert!(!listed.contains(&token), "token list never shows secrets");
    let revoke = scimgate(
        &db,
        &[
            "token",
            "revoke",
            "--tenant",
            "acme",
            &second["id"].to_string(),
        ],
    );
    assert!(
        revoke.status.success(),
        "{}",
        String::from_utf8_lossy(&revoke.stderr)
    );
    assert!(
        !scimgate(&db, &["token", "revoke", "--tenant", "nope", "1"])
            .status
            .success()
    );

    let server = serve(&db).await;
    let client = reqwest::Client::new();
    let url = format!(
        "{}/scim/v2/acme/Users?filter=userName%20eq%20%22x%22",
        server.base
    );
    let ok = client.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.json::<Value>().await.unwrap()["totalResults"], 0);
    let revoked = client
        .get(&url)
        .bearer_auth(second["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 401);
}

/// Writes stream in from several clients; the server is SIGKILLed mid-stream. Every write
/// that was answered 2xx must be there after a restart.
async fn acknowledged_writes_survive_sigkill(backend: DbBackend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let token = create_tenant(&db, "acme");
    let mut server = serve(&db).await;
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let client = reqwest::Client::new();
    let mut writers = Vec::new();
    for w in 0..8 {
        let (client, token, base) = (client.clone(), token.clone(), server.base.clone());
        let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            for i in 0..10_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let name = format!("w{w}-{i}@contoso.com");
                let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name, "active": true});
                let sent = client
                    .post(format!("{base}/scim/v2/acme/Users"))
                    .bearer_auth(&token)
                    .header("content-type", "application/scim+json")
                    .body(body.to_string())
                    .send()
                    .await;
                match sent {
                    Ok(resp) if resp.status() == 201 => acknowledged.lock().unwrap().push(name),
                    Ok(resp) => panic!("unexpected status {}", resp.status()),
                    Err(_) => break, // the server is gone
                }
            }
        }));
    }
    // Let a few hundred writes through, then kill without warning.
    while acknowledged.lock().unwrap().len() < 300 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    server.child.start_kill().unwrap();
    server.child.wait().await.unwrap();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();

    let server = serve(&db).await;
    let mut found = std::collections::HashSet::new();
    let mut start = 1;
    loop {
        let page: Value = client
            .get(format!(
                "{}/scim/v2/acme/Users?attributes=userName&count=1000&startIndex={start}",
                server.base
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let resources = page["Resources"].as_array().unwrap();
        if resources.is_empty() {
            break;
        }
        found.extend(
            resources
                .iter()
                .map(|r| r["userName"].as_str().unwrap().to_owned()),
        );
        start += resources.len();
    }
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|n| !found.contains(*n))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged writes lost, e.g. {:?}",
        lost.len(),
        acknowledged.len(),
        &lost[..lost.len().min(5)]
    );
    eprintln!(
        "{} acknowledged writes, {} found after SIGKILL",
        acknowledged.len(),
        found.len()
    );
}

on_both_backends!(cli_contract, acknowledged_writes_survive_sigkill);

#[test]
fn rules_check_names_the_rule_and_line_and_eval_explains() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        "rules:\n  - name: Sales\n    applies_to: { member_of: \"Sales\" }\n    set:\n      user_plan: \"Sales Premium\"\n      role: { expr: 'if user.title == \"Lead\" { \"Sales lead\" } else { \"Sales user\" }' }\n  - name: Fallback\n    set:\n      user_plan: { value: \"Standard\", mode: if_not_set }\n",
    )
    .unwrap();
    let catalog = dir.path().join("catalog.yaml");
    std::fs::write(&catalog, "user_plans: [{name: Standard, seats: 10}, Sales Premium]\nroles: [Sales user, Sales lead]\n").unwrap();
    let run = |args: &[&str]| Command::new(BIN).args(args).output().unwrap();
    let path = rules.to_str().unwrap();
    let cat = catalog.to_str().unwrap();

    let ok = run(&["rules", "check", path, "--catalog", cat]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("2 rules OK"));

    let user = dir.path().join("user.json");
    std::fs::write(
        &user,
        r#"{"userName": "kim@contoso.com", "title": "Lead", "active": true}"#,
    )
    .unwrap();
    let eval = run(&[
        "rules",
        "eval",
        path,
        "--user",
        user.to_str().unwrap(),
        "--groups",
        "Sales,Support",
        "--catalog",
        cat,
        "--json",
    ]);
    assert!(
        eval.status.success(),
        "{}",
        String::from_utf8_lossy(&eval.stderr)
    );
    let v: Value = serde_json::from_slice(&eval.stdout).unwrap();
    assert_eq!(v["settings"]["user_plan"], "Sales Premium");
    assert_eq!(v["settings"]["role"], "Sales lead");
    assert_eq!(v["synced"], true);
    let table = run(&["rules", "eval", path, "--user", user.to_str().unwrap()]);
    let table = String::from_utf8_lossy(&table.stdout).to_string();
    assert!(table.contains("not member of \"Sales\""), "{table}");
    assert!(table.contains("\"Standard\""), "{table}");

    // A catalogue miss and a bad expression: exit 1, each message names its rule and line.
    std::fs::write(
        &rules,
        "rules:\n  - name: Sales\n    set:\n      user_plan: \"Gold\"\n  - name: Broken\n    set:\n      role: { expr: 'user.title +' }\n",
    )
    .unwrap();
    let bad = run(&["rules", "check", path, "--catalog", cat]);
    assert_eq!(bad.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains(&format!("{path}:4"))
            && stderr.contains("rule \"Sales\"")
            && stderr.contains("\"Gold\""),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{path}:7")) && stderr.contains("rule \"Broken\""),
        "{stderr}"
    );
}

/// `scimgate notify`: subscriptions added, listed (never with a secret), tested and
/// removed; mistakes exit 1 with a message naming what is wrong.
async fn notify_cli(backend: DbBackend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    create_tenant(&db, "acme");
    let run = |args: &[&str]| {
        let mut all = vec!["notify", "--tenant", "acme"];
        all.extend_from_slice(args);
        scimgate(&db, &all)
    };
    let stdout = |out: &std::process::Output| {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout.clone()).unwrap()
    };
    let failure = |out: std::process::Output| {
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8(out.stderr).unwrap()
    };

    let email = stdout(&run(&[
        "add",
        "--email",
        "ops@acme.example",
        "--events",
        "sync.error,sync.held",
    ]));
    assert!(
        email.contains("ops@acme.example") && email.contains("sync.error,sync.held"),
        "{email}"
    );
    assert!(!email.contains("secret"), "{email}");
    let hook = stdout(&run(&[
        "add",
        "--webhook",
        "https://hooks.acme.example/x",
        "--events",
        "seats.exhausted",
    ]));
    let secret_line = hook
        .lines()
        .find(|l| l.contains("shown once"))
        .unwrap_or_else(|| panic!("no secret line: {hook}"));
    let secret = secret_line.rsplit(' ').next().unwrap();
    assert_eq!(secret.len(), 64, "{secret_line}");
    let scripted: Value = serde_json::from_str(&stdout(&run(&[
        "add",
        "--webhook",
        "https://hooks.acme.example/y",
        "--events",
        "sync.failed",
        "--json",
    ])))
    .unwrap();
    assert_eq!(scripted["channel"], "webhook");
    assert_eq!(scripted["secret"].as_str().unwrap().len(), 64);

    let listed = stdout(&run(&["list", "--json"]));
    assert_eq!(listed.lines().count(), 3, "{listed}");
    assert!(
        !listed.contains(secret) && !listed.contains("secret"),
        "{listed}"
    );
    let first: Value = serde_json::from_str(listed.lines().next().unwrap()).unwrap();
    assert_eq!(first["target"], "ops@acme.example");
    assert_eq!(first["events"], json!(["sync.error", "sync.held"]));
    let id = first["id"].to_string();
    assert!(stdout(&run(&["list"])).contains(&format!("{id}\temail\tops@acme.example")));

    let tested = stdout(&run(&["test", &id]));
    assert!(tested.contains("queued"), "{tested}");
    let outbox = stdout(&run(&["outbox", "--status", "pending", "--json"]));
    let message: Value = serde_json::from_str(outbox.trim()).unwrap();
    assert_eq!(message["event"], "test");
    assert_eq!(message["target"], "ops@acme.example");
    assert_eq!(stdout(&run(&["outbox", "--status", "dead"])), "");

    assert!(run(&["remove", &id]).status.success());
    assert!(failure(run(&["remove", &id])).contains(&format!("no subscription {id}")));
    assert!(failure(run(&["test", &id])).contains(&format!("no subscription {id}")));
    assert_eq!(stdout(&run(&["list"])).lines().count(), 2);

    let unknown = failure(run(&[
        "add",
        "--email",
        "a@acme.example",
        "--events",
        "sync.eror",
    ]));
    assert!(
        unknown.contains("\"sync.eror\"") && unknown.contains("seats.exhausted"),
        "{unknown}"
    );
    let address = failure(run(&[
        "add",
        "--email",
        "acme.example",
        "--events",
        "sync.error",
    ]));
    assert!(address.contains("\"acme.example\""), "{address}");
    let url = failure(run(&[
        "add",
        "--webhook",
        "ftp://x.example",
        "--events",
        "sync.error",
    ]));
    assert!(url.contains("\"ftp://x.example\""), "{url}");
    let status = failure(run(&["outbox", "--status", "failed"]));
    assert!(status.contains("\"failed\""), "{status}");
    let tenant = failure(scimgate(&db, &["notify", "--tenant", "nope", "list"]));
    assert!(tenant.contains("no tenant named nope"), "{tenant}");
    assert_eq!(stdout(&run(&["list"])).lines().count(), 2, "nothing added");
}

on_both_backends!(notify_cli);

/// `scimgate rules apply|draft|publish|versions|diff|restore`: what a script does to
/// change a tenant's rules safely from a terminal.
async fn rule_versions_from_the_cli(backend: DbBackend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    create_tenant(&db, "acme");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let run = |args: &[&str]| {
        let out = scimgate(&db, args);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        (out.status.success(), stdout, stderr)
    };
    let catalog = root.join("rules/catalog.yaml");
    let sales = root.join("rules/sales-plan.yaml");
    let (ok, _, err) = run(&[
        "catalog",
        "import",
        "--tenant",
        "acme",
        catalog.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let (ok, out, err) = run(&[
        "rules",
        "apply",
        "--tenant",
        "acme",
        sales.to_str().unwrap(),
        "--comment",
        "first rules",
    ]);
    assert!(ok && out.contains("published as version"), "{out}{err}");

    let dir = tempfile::tempdir().unwrap();
    let changed = dir.path().join("rules.yaml");
    let text = std::fs::read_to_string(&sales).unwrap();
    std::fs::write(
        &changed,
        text.replace("\"Sales Premium\"", "\"Sales Essentials\""),
    )
    .unwrap();
    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, text.replace("\"Sales Premium\"", "\"Platinum\"")).unwrap();
    let (ok, _, err) = run(&[
        "rules",
        "draft",
        "--tenant",
        "acme",
        broken.to_str().unwrap(),
    ]);
    assert!(
        !ok && err.contains("Platinum") && err.contains("was not saved"),
        "{err}"
    );
    let (ok, out, _) = run(&["rules", "draft", "--tenant", "acme"]);
    assert!(ok && out.contains("acme has no draft"), "{out}");
    let (ok, out, err) = run(&[
        "rules",
        "draft",
        "--tenant",
        "acme",
        changed.to_str().unwrap(),
    ]);
    assert!(ok && out.contains("changed         Sales\n"), "{out}{err}");
    // A sync with the draft (not published) says so in the run history.
    let (ok, out, err) = run(&["sync", "--tenant", "acme", "--draft"]);
    assert!(ok && out.starts_with("run "), "{out}{err}");
    let (ok, out, _) = run(&["runs", "--tenant", "acme", "--json"]);
    assert!(ok && out.contains("\"rules\":\"draft\""), "{out}");
    let first_run = out.lines().last().unwrap_or_default();
    let id = serde_json::from_str::<serde_json::Value>(first_run).unwrap()["id"].to_string();
    let (ok, _, err) = run(&["runs", "--tenant", "acme", "--cancel", &id]);
    assert!(!ok && err.contains("only a running run"), "{err}");
    let (ok, out, err) = run(&[
        "rules",
        "publish",
        "--tenant",
        "acme",
        "--comment",
        "Essentials",
    ]);
    assert!(ok && out.contains("published as version"), "{out}{err}");
    let (ok, out, _) = run(&["rules", "versions", "--tenant", "acme"]);
    assert!(ok, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "a header and two versions: {out}");
    assert!(
        lines[1].contains("Essentials") && lines[2].contains("first rules"),
        "{out}"
    );
    let first = lines[2].split_whitespace().next().unwrap().to_owned();
    let (ok, out, _) = run(&["rules", "diff", "--tenant", "acme", &first, "published"]);
    assert!(
        ok && out.contains("1 change(s)") && out.contains("changed         Sales"),
        "{out}"
    );
    let (ok, _, err) = run(&["rules", "diff", "--tenant", "acme", "yesterday"]);
    assert!(!ok && err.contains("version numbers"), "{err}");
    let (ok, out, err) = run(&["rules", "restore", "--tenant", "acme", &first]);
    assert!(ok && out.contains("is now the draft"), "{out}{err}");
    let (ok, _, err) = run(&["rules", "publish", "--tenant", "acme", "--comment", "back"]);
    assert!(ok, "{err}");
    let (ok, out, _) = run(&["rules", "diff", "--tenant", "acme", &first, "published"]);
    assert!(ok && out.contains("no changes"), "{out}");
    let (ok, _, err) = run(&["rules", "draft", "--tenant", "acme", "--discard"]);
    assert!(!ok && err.contains("no draft"), "{err}");

    // The audit log names the terminal's user for each change, newest first.
    let (ok, out, err) = run(&["audit", "--tenant", "acme", "--area", "rules"]);
    assert!(ok, "{err}");
    let actions: Vec<(&str, &str)> = out
        .lines()
        .skip(1)
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            (words[1], words[3])
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("cli:audit-tester", "rules.publish"),
            ("cli:audit-tester", "rules.restore"),
            ("cli:audit-tester", "rules.publish"),
            ("cli:audit-tester", "rules.draft"),
            ("cli:audit-tester", "rules.publish"),
        ],
        "{out}"
    );
    let (ok, out, _) = run(&["audit", "--tenant", "acme", "--csv", "--area", "catalog"]);
    assert!(
        ok && out.starts_with("\"id\",") && out.contains("catalog.replace"),
        "{out}"
    );
    let (ok, _, err) = run(&["audit", "--tenant", "acme", "--since", "last week"]);
    assert!(!ok && err.contains("not a date"), "{err}");
}

on_both_backends!(rule_versions_from_the_cli);

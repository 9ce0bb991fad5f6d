//! Web UI accounts on SQLite and PostgreSQL: creating and listing them, signing in, the
//! lockout after repeated failures, and sessions ending when a password is reset or an
//! account removed; accounts that sign in only through the identity provider; and
//! `scimgate admin` as scripts run it (password on standard input).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use scimgate_app::accounts::{LOCK_AFTER, LOCK_MS, SIGN_IN_REFUSED};
use scimgate_app::{App, AppError};
use scimgate_core::{AdminRole, Clock, SystemClock, TenantName};
use scimgate_notify::target::TargetPolicy;
use scimgate_testkit::{on_both_backends, DbBackend, ManualClock, TestDb};
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;

const BIN: &str = env!("CARGO_BIN_EXE_scimgate");
const PASSWORD: &str = "correct horse battery staple";

fn tenant(name: &str) -> TenantName {
    TenantName::parse(name).unwrap()
}

async fn setup(backend: DbBackend) -> Option<(TestDb, App, Arc<ManualClock>)> {
    let db = TestDb::new(backend).await?;
    let store = db.store().await;
    for name in ["acme", "globex"] {
        store
            .create_tenant(&tenant(name), SystemClock.now())
            .await
            .unwrap();
    }
    let clock = ManualClock::at(1_800_000_000_000);
    let app = App::builtin(store, clock.clone(), TargetPolicy::default());
    Some((db, app, clock))
}

fn refused(result: Result<impl std::fmt::Debug, AppError>) -> String {
    match result {
        Err(AppError::Unauthorized(message)) => message,
        other => panic!("expected a refused sign-in, got {other:?}"),
    }
}

async fn accounts_are_created_listed_and_checked(backend: DbBackend) {
    let Some((_db, app, _clock)) = setup(backend).await else {
        return;
    };
    let created = app
        .create_admin_account(
            "ops@acme.no",
            PASSWORD,
            AdminRole::Operator,
            &[tenant("globex"), tenant("acme")],
        )
        .await
        .unwrap();
    assert_eq!(created.role, AdminRole::Operator);
    assert_eq!(created.tenants, vec![tenant("acme"), tenant("globex")]);
    let listed = app.admin_accounts().await.unwrap();
    assert_eq!(listed, vec![created.clone()]);
    // The same name again: a conflict, and nothing changes.
    let again = app
        .create_admin_account(
            "ops@acme.no",
            PASSWORD,
            AdminRole::Viewer,
            &[tenant("acme")],
        )
        .await;
    assert!(matches!(again, Err(AppError::Conflict(_))), "{again:?}");
    // An unknown tenant, a short password, a bad name: refused before anything is stored.
    let unknown = app
        .create_admin_account("viewer", PASSWORD, AdminRole::Viewer, &[tenant("initech")])
        .await;
    assert!(
        matches!(unknown, Err(AppError::NotFound(ref m)) if m.contains("initech")),
        "{unknown:?}"
    );
    let short = app
        .create_admin_account("viewer", "short", AdminRole::Viewer, &[tenant("acme")])
        .await;
    assert!(
        matches!(short, Err(AppError::Invalid(ref m)) if m.contains("12")),
        "{short:?}"
    );
    let spaced = app
        .create_admin_account("two words", PASSWORD, AdminRole::Viewer, &[tenant("acme")])
        .await;
    assert!(matches!(spaced, Err(AppError::Invalid(_))), "{spaced:?}");
    assert_eq!(app.admin_accounts().await.unwrap(), vec![created]);
}

async fn sign_in_checks_the_password_and_locks_after_failures(backend: DbBackend) {
    let Some((_db, app, clock)) = setup(backend).await else {
        return;
    };
    app.create_admin_account("ops", PASSWORD, AdminRole::Administrator, &[tenant("acme")])
        .await
        .unwrap();
    let signed_in = app.sign_in("ops", PASSWORD).await.unwrap();
    assert_eq!(signed_in.name, "ops");
    // A wrong password and an unknown name read the same.
    let wrong = refused(app.sign_in("ops", "not the password at all").await);
    let nobody = refused(app.sign_in("nobody", PASSWORD).await);
    assert_eq!(wrong, nobody);
    assert_eq!(wrong, SIGN_IN_REFUSED);
    // One failure already counted; the rest of the run locks the account, after which
    // even the right password is refused, with the same message.
    for _ in 1..LOCK_AFTER {
        refused(app.sign_in("ops", "still not the password").await);
    }
    assert_eq!(refused(app.sign_in("ops", PASSWORD).await), SIGN_IN_REFUSED);
    clock.advance_ms(LOCK_MS - 1000);
    refused(app.sign_in("ops", PASSWORD).await);
    // When the lock has run out, the right password works again and the count restarts.
    clock.advance_ms(2000);
    app.sign_in("ops", PASSWORD).await.unwrap();
    refused(app.sign_in("ops", "wrong once").await);
    app.sign_in("ops", PASSWORD).await.unwrap();
}

async fn a_reset_lifts_the_lock_and_ends_sessions(backend: DbBackend) {
    let Some((_db, app, clock)) = setup(backend).await else {
        return;
    };
    let account = app
        .create_admin_account("ops", PASSWORD, AdminRole::Viewer, &[tenant("acme")])
        .await
        .unwrap();
    let store = app.store();
    let now = clock.now().unix_millis();
    store
        .create_admin_session(account.id, "session-hash", "csrf", "now", now + 3_600_000)
        .await
        .unwrap();
    let live = store
        .admin_session("session-hash", now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (live.account.name.as_str(), live.csrf_token.as_str()),
        ("ops", "csrf")
    );
    // Expired sessions are not live.
    assert!(store
        .admin_session("session-hash", now + 3_600_000)
        .await
        .unwrap()
        .is_none());
    for _ in 0..LOCK_AFTER {
        refused(app.sign_in("ops", "wrong password here").await);
    }
    refused(app.sign_in("ops", PASSWORD).await);
    let fresh = "another long password";
    app.reset_admin_password("ops", fresh).await.unwrap();
    assert!(
        store
            .admin_session("session-hash", now)
            .await
            .unwrap()
            .is_none(),
        "the reset ended the session"
    );
    app.sign_in("ops", fresh).await.unwrap();
    refused(app.sign_in("ops", PASSWORD).await);
    let missing = app.reset_admin_password("nobody", fresh).await;
    assert!(matches!(missing, Err(AppError::NotFound(_))), "{missing:?}");
    // Removing the account ends its sessions and its sign-in.
    store
        .create_admin_session(account.id, "second", "csrf", "now", now + 3_600_000)
        .await
        .unwrap();
    app.remove_admin_account("ops").await.unwrap();
    assert!(store.admin_session("second", now).await.unwrap().is_none());
    refused(app.sign_in("ops", fresh).await);
    assert!(matches!(
        app.remove_admin_account("ops").await,
        Err(AppError::NotFound(_))
    ));
}

fn scimgate(db: &TestDb, args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = Command::new(BIN)
        .arg("--database-url")
        .arg(&db.url)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// An account for someone who signs in only through the identity provider: no password
/// opens it, the provider's word opens only an existing account, and a stranger's
/// password guesses do not lock its owner out of the provider's way in.
async fn identity_provider_accounts_have_no_password(backend: DbBackend) {
    let Some((db, app, _clock)) = setup(backend).await else {
        return;
    };
    let out = scimgate(
        &db,
        &[
            "admin",
            "create",
            "alice@acme.example",
            "--tenant",
            "acme",
            "--role",
            "operator",
            "--no-password",
        ],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // No password works, the empty one included, and failures still count towards a lock.
    assert_eq!(
        refused(app.sign_in("alice@acme.example", "").await),
        SIGN_IN_REFUSED
    );
    let vouched = app.sign_in_vouched("alice@acme.example").await.unwrap();
    assert_eq!(
        (vouched.name.as_str(), vouched.role),
        ("alice@acme.example", AdminRole::Operator)
    );
    // A person the provider knows but scimgate does not is refused, saying what to do.
    let stranger = refused(app.sign_in_vouched("mallory@acme.example").await);
    assert!(stranger.contains("scimgate admin create"), "{stranger}");
    for _ in 0..LOCK_AFTER {
        refused(app.sign_in("alice@acme.example", "guess").await);
    }
    app.sign_in_vouched("alice@acme.example").await.unwrap();
}

async fn the_cli_reads_the_password_from_standard_input(backend: DbBackend) {
    let Some((db, app, _clock)) = setup(backend).await else {
        return;
    };
    let create = [
        "admin", "create", "ops", "--tenant", "acme", "--role", "operator",
    ];
    let out = scimgate(&db, &create, &format!("{PASSWORD}\n"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    app.sign_in("ops", PASSWORD).await.unwrap();
    let list = scimgate(&db, &["admin", "list", "--json"], "");
    let line: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(line["name"], "ops");
    assert_eq!(line["role"], "operator");
    assert_eq!(line["tenants"], serde_json::json!(["acme"]));
    assert!(line.get("password_hash").is_none());
    // A second create of the name fails with a message and exit code 1.
    let again = scimgate(&db, &create, &format!("{PASSWORD}\n"));
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let reset = scimgate(
        &db,
        &["admin", "reset-password", "ops"],
        "a brand new password\n",
    );
    assert!(
        reset.status.success(),
        "{}",
        String::from_utf8_lossy(&reset.stderr)
    );
    app.sign_in("ops", "a brand new password").await.unwrap();
    let removed = scimgate(&db, &["admin", "remove", "ops"], "");
    assert!(removed.status.success());
    assert!(app.admin_accounts().await.unwrap().is_empty());
}

on_both_backends!(
    accounts_are_created_listed_and_checked,
    sign_in_checks_the_password_and_locks_after_failures,
    a_reset_lifts_the_lock_and_ends_sessions,
    the_cli_reads_the_password_from_standard_input,
    identity_provider_accounts_have_no_password,
);

//! A revoked token stops working at once: `scimgate token revoke` (and `admin-token
//! revoke`) run beside two `scimgate serve` replicas that have just accepted the token,
//! and within a second both refuse it, on SQLite and PostgreSQL. The fast path stays:
//! a valid token is remembered for half a second, so both replicas had it cached.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use scimgate_core::{Clock, SystemClock, TenantName};
use scimgate_store::TokenKind;
use scimgate_testkit::process::ServeProcess;
use scimgate_testkit::{on_both_backends, DbBackend, TestDb};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_scimgate");

/// The status `token` gets at `path` on `server`.
async fn status(client: &reqwest::Client, server: &ServeProcess, path: &str, token: &str) -> u16 {
    client
        .get(format!("{}{path}", server.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Accepted on both replicas, revoked through the CLI, refused by both within a second.
async fn check_revocation(
    db: &TestDb,
    replicas: &[ServeProcess; 2],
    kind: TokenKind,
    path: &str,
    (id, secret): (i64, &str),
) {
    let client = reqwest::Client::new();
    for server in replicas {
        for _ in 0..3 {
            assert_eq!(
                status(&client, server, path, secret).await,
                200,
                "{kind:?} before revoke"
            );
        }
    }
    let command = match kind {
        TokenKind::Scim => "token",
        TokenKind::Admin => "admin-token",
    };
    let revoked = tokio::process::Command::new(BIN)
        .args([
            "--database-url",
            &db.url,
            command,
            "revoke",
            "--tenant",
            "acme",
        ])
        .arg(id.to_string())
        .output()
        .await
        .unwrap();
    assert!(revoked.status.success(), "{revoked:?}");
    // Measured from the moment the revoke is committed (the CLI has exited).
    let committed = Instant::now();
    for (n, server) in replicas.iter().enumerate() {
        loop {
            let got = status(&client, server, path, secret).await;
            if got == 401 {
                break;
            }
            assert_eq!(got, 200);
            assert!(
                committed.elapsed() < Duration::from_secs(1),
                "{kind:?} token still accepted by replica {n} {:?} after the revoke",
                committed.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        eprintln!(
            "{kind:?}: replica {n} refuses the token after {:?}",
            committed.elapsed()
        );
    }
    // And it stays refused.
    for server in replicas {
        assert_eq!(status(&client, server, path, secret).await, 401);
    }
}

async fn a_revoked_token_stops_working_on_every_replica_within_a_second(backend: DbBackend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let store = db.store().await;
    let tenant = store
        .create_tenant(&TenantName::parse("acme").unwrap(), SystemClock.now())
        .await
        .unwrap();
    let scim = store
        .create_token_of(TokenKind::Scim, &tenant, "entra", SystemClock.now())
        .await
        .unwrap();
    let admin = store
        .create_token_of(TokenKind::Admin, &tenant, "admin", SystemClock.now())
        .await
        .unwrap();
    // A second SCIM token of the tenant keeps working.
    let other = store
        .create_token_of(TokenKind::Scim, &tenant, "spare", SystemClock.now())
        .await
        .unwrap();
    let replicas = [
        ServeProcess::start(BIN, &db.url, &[]).await,
        ServeProcess::start(BIN, &db.url, &[]).await,
    ];
    check_revocation(
        &db,
        &replicas,
        TokenKind::Scim,
        "/scim/v2/acme/Users?filter=userName%20eq%20%22x%22",
        (scim.info.id, &scim.secret),
    )
    .await;
    check_revocation(
        &db,
        &replicas,
        TokenKind::Admin,
        "/api/v1/tenants/acme/settings",
        (admin.info.id, &admin.secret),
    )
    .await;
    let client = reqwest::Client::new();
    for server in &replicas {
        assert_eq!(
            status(&client, server, "/scim/v2/acme/Users", &other.secret).await,
            200
        );
    }
    let [a, b] = replicas;
    a.stop().await;
    b.stop().await;
}

on_both_backends!(a_revoked_token_stops_working_on_every_replica_within_a_second);

//! A real OpenID Provider for the sign-in tests: panva's `oidc-provider` (npm), run by
//! `scripts/oidc-provider/server.mjs` under Node on 127.0.0.1, installed by
//! `scripts/ensure-oidc-provider.sh`. Skipped or required like the browser tests.

use crate::browser::{browser_required, workspace_root};
use serde_json::Value;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

/// The OP's one client.
pub const CLIENT_ID: &str = "scimgate";
pub const CLIENT_SECRET: &str = "a-client-secret-for-tests";

pub struct OidcProvider {
    /// `http://127.0.0.1:PORT`.
    pub issuer: String,
    _child: tokio::process::Child,
}

impl OidcProvider {
    /// Starts the OP for a client whose callback is `redirect_uri`, with `accounts`
    /// (`[{sub, password, email?, name?}]`); `None` when it cannot run here and the
    /// browser tests are not required.
    pub async fn start(redirect_uri: &str, accounts: &Value) -> Option<OidcProvider> {
        let root = workspace_root();
        let installed = root.join(".tools/oidc-provider/node_modules/oidc-provider");
        if !installed.exists() {
            let why = "oidc-provider is not installed (run scripts/ensure-oidc-provider.sh)";
            if browser_required() {
                panic!("browser tests are required (SCIMGATE_TEST_REQUIRE_BROWSER=1) but {why}");
            }
            eprintln!("note: OIDC test skipped, {why}");
            return None;
        }
        let mut child = tokio::process::Command::new("node")
            .arg(root.join("scripts/oidc-provider/server.mjs"))
            .env("PORT", "0")
            .env("CLIENT_ID", CLIENT_ID)
            .env("CLIENT_SECRET", CLIENT_SECRET)
            .env("REDIRECT_URIS", redirect_uri)
            .env("ACCOUNTS", accounts.to_string())
            .current_dir(&root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting node for the OIDC provider: {e}"));
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the OIDC provider printed its issuer within 30 s")
            .unwrap()
            .unwrap_or_default();
        let issuer = first
            .strip_prefix("issuer=")
            .unwrap_or_else(|| panic!("the OIDC provider's first line: {first:?}"))
            .to_owned();
        Some(OidcProvider {
            issuer,
            _child: child,
        })
    }
}

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
        OidcProvider::spawn(redirect_uri, accounts, None).await
    }

    /// Starts the OP as an OAuth 2.0 authorization server for one more client, `client_id`
    /// with `secret`, that gets access tokens by the client credentials grant (scope
    /// `scim`) and may introspect them at [`OidcProvider::introspection_endpoint`].
    pub async fn start_issuing_client_credentials(
        client_id: &str,
        secret: &str,
    ) -> Option<OidcProvider> {
        let accounts = serde_json::json!([{"sub": "nobody", "password": "unused"}]);
        let unused_callback = "http://127.0.0.1:9/callback";
        OidcProvider::spawn(unused_callback, &accounts, Some((client_id, secret))).await
    }

    /// `issuer/token`.
    pub fn token_endpoint(&self) -> String {
        format!("{}/token", self.issuer)
    }

    /// `issuer/token/introspection` (RFC 7662).
    pub fn introspection_endpoint(&self) -> String {
        format!("{}/token/introspection", self.issuer)
    }

    async fn spawn(
        redirect_uri: &str,
        accounts: &Value,
        client_credentials: Option<(&str, &str)>,
    ) -> Option<OidcProvider> {
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
        let mut child =
            tokio::process::Command::new("node")
                .arg(root.join("scripts/oidc-provider/server.mjs"))
                .env("PORT", "0")
                .env("CLIENT_ID", CLIENT_ID)
                .env("CLIENT_SECRET", CLIENT_SECRET)
                .env("REDIRECT_URIS", redirect_uri)
                .env("ACCOUNTS", accounts.to_string())
                .envs(client_credentials.iter().flat_map(|(id, secret)| {
                    [("CC_CLIENT_ID", *id), ("CC_CLIENT_SECRET", *secret)]
                }))
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

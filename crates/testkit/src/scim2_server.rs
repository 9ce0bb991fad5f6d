//! scim2-server (python-scim's SCIM 2.0 server, from PyPI, in memory) on 127.0.0.1: a
//! real, strict SCIM service provider for the CRM connector to push accounts to.
//!
//! It comes from `scripts/ensure-scim2-server.sh` (a venv at `target/scim2-server-venv`,
//! or `$SCIMGATE_SCIM2_SERVER_VENV`). Without it the tests that need it are skipped with
//! a note, unless `SCIMGATE_TEST_REQUIRE_SCIM2_SERVER=1` (set by `.ci/run`).

use crate::smtp::free_port;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A running scim2-server; killed when dropped.
pub struct Scim2Server {
    /// `http://127.0.0.1:port/v2`: the SCIM base URL.
    pub url: String,
    /// The bearer token it takes.
    pub token: String,
    client: reqwest::Client,
    _child: tokio::process::Child,
}

fn command() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let venv = std::env::var("SCIMGATE_SCIM2_SERVER_VENV")
        .map(|v| root.join(v))
        .unwrap_or_else(|_| root.join("target/scim2-server-venv"));
    venv.join("bin/scim2-server")
}

fn required() -> bool {
    std::env::var("SCIMGATE_TEST_REQUIRE_SCIM2_SERVER").is_ok_and(|v| v == "1" || v == "true")
}

impl Scim2Server {
    /// Starts one (with a bearer token), or returns `None` when it is not installed here
    /// (see the module docs).
    pub async fn start() -> Option<Scim2Server> {
        let command = command();
        if !command.exists() {
            let why = "scim2-server is not installed (run scripts/ensure-scim2-server.sh)";
            if required() {
                panic!("scim2-server tests are required (SCIMGATE_TEST_REQUIRE_SCIM2_SERVER=1) but {why}");
            }
            eprintln!("note: scim2-server test skipped, {why}");
            return None;
        }
        let token = "scim2-server-test-token".to_owned();
        let port = free_port();
        let child = tokio::process::Command::new(&command)
            .args(["--hostname", "127.0.0.1", "--port", &port.to_string()])
            .args(["--bearer-token", &token])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", command.display()));
        let server = Scim2Server {
            url: format!("http://127.0.0.1:{port}/v2"),
            token,
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
            _child: child,
        };
        for _ in 0..200 {
            if let Ok(answer) = server
                .request(reqwest::Method::GET, "/ServiceProviderConfig")
                .send()
                .await
            {
                if answer.status().is_success() {
                    return Some(server);
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("scim2-server did not answer on port {port} within 10 s");
    }

    /// A request to `path` under the base URL, with the token.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        (self.client.request(method, format!("{}{path}", self.url)))
            .bearer_auth(&self.token)
            .header("content-type", "application/scim+json")
    }

    /// Status and JSON body of a GET.
    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let answer = self
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or_default())
    }

    /// The users whose `attribute` equals `value` (a filter).
    pub async fn users_where(&self, attribute: &str, value: &str) -> Vec<serde_json::Value> {
        let filter = format!("{attribute} eq \"{value}\"");
        let answer = (self.request(reqwest::Method::GET, "/Users"))
            .query(&[("filter", filter.as_str())])
            .send()
            .await
            .unwrap();
        let list: serde_json::Value = answer.json().await.unwrap();
        list["Resources"].as_array().cloned().unwrap_or_default()
    }
}

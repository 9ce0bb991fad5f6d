//! Headless Chromium driven over the W3C WebDriver protocol (Debian's `chromium` and
//! `chromium-driver`, installed by `scripts/ensure-chromium.sh`), for the web UI's
//! real-browser tests. The protocol is a handful of JSON calls, so the client is written
//! here over reqwest rather than pulled in as a crate.
//!
//! Without Chromium the browser tests are skipped with a note, unless
//! `SCIMGATE_TEST_REQUIRE_BROWSER=1` (set by `.ci/run`), which makes them fail instead.

use serde_json::{json, Value};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The key WebDriver names an element reference with.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long a lookup or a wait for a page's text may take.
const PATIENCE: Duration = Duration::from_secs(15);

pub fn browser_required() -> bool {
    std::env::var("SCIMGATE_TEST_REQUIRE_BROWSER").is_ok_and(|v| v == "1" || v == "true")
}

/// Whether the browser tests can run here; prints the skip note when not, and panics
/// when they are required.
pub fn browser_available() -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let why = format!(
        "{} missing (run scripts/ensure-chromium.sh)",
        missing.join(" and ")
    );
    if browser_required() {
        panic!(
            "browser tests are required for this run (SCIMGATE_TEST_REQUIRE_BROWSER=1) but {why}"
        );
    }
    eprintln!("note: browser test skipped, {why}");
    false
}

/// A headless Chromium with its own profile, through its own chromedriver; both end
/// when this is dropped.
pub struct Browser {
    driver: Child,
    session: String,
    http: reqwest::Client,
    base: String,
    _profile: tempfile::TempDir,
}

/// An element found on the current page.
pub struct Element<'b> {
    browser: &'b Browser,
    id: String,
    /// How it was found (`using`, `value`): found again when htmx replaced it.
    locator: (String, String),
}

impl Browser {
    /// Starts the browser; `None` when browser tests are skipped here.
    pub async fn start() -> Option<Browser> {
        if !browser_available() {
            return None;
        }
        let port = crate::smtp::free_port();
        // Its own process group, so that the Chromium it starts can be stopped with it.
        let driver = Command::new(CHROMEDRIVER)
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {CHROMEDRIVER}: {e}"));
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let ready = http.get(format!("{base}/status")).send().await;
            if let Ok(ready) = ready {
                let status: Value = ready.json().await.unwrap_or_default();
                if status["value"]["ready"] == true {
                    break;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "chromedriver did not become ready on port {port} within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000",
                    "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions",
                    "--disable-background-networking", "--disable-sync",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }}});
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromedriver did not start a session: {created}"))
            .to_owned();
        let browser = Browser {
            driver,
            session,
            http,
            base,
            _profile: profile,
        };
        let waits =
            json!({"implicit": PATIENCE.as_millis() as u64, "script": 30_000, "pageLoad": 30_000});
        browser.command("POST", "timeouts", waits).await;
        Some(browser)
    }

    /// One WebDriver command on this session; panics with the driver's message on error.
    async fn command(&self, method: &str, path: &str, body: Value) -> Value {
        self.try_command(method, path, body)
            .await
            .unwrap_or_else(|error| panic!("WebDriver {method} {path}: {error}"))
    }

    async fn try_command(&self, method: &str, path: &str, body: Value) -> Result<Value, Value> {
        let url = format!("{}/session/{}/{path}", self.base, self.session);
        let request = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body),
        };
        let response = request.send().await.unwrap();
        let ok = response.status().is_success();
        let answer: Value = response.json().await.unwrap_or_default();
        match ok {
            true => Ok(answer["value"].clone()),
            false => Err(answer["value"].clone()),
        }
    }

    pub async fn goto(&self, url: &str) {
        self.command("POST", "url", json!({ "url": url })).await;
    }

    /// The address of the page shown now.
    pub async fn url(&self) -> String {
        let url = self.command("GET", "url", json!({})).await;
        url.as_str().unwrap_or_default().to_owned()
    }

    async fn find_by(&self, using: &str, value: &str) -> Element<'_> {
        let body = json!({ "using": using, "value": value });
        match self.try_command("POST", "element", body).await {
            Ok(found) => Element {
                browser: self,
                id: found[ELEMENT].as_str().unwrap_or_default().to_owned(),
                locator: (using.to_owned(), value.to_owned()),
            },
            Err(error) => panic!(
                "no element {value} on {} ({error}); the page says:\n{}",
                self.url().await,
                self.text().await
            ),
        }
    }

    /// The first element matching a CSS selector, waiting for it to appear.
    pub async fn find(&self, css: &str) -> Element<'_> {
        self.find_by("css selector", css).await
    }

    /// The first element matching an XPath expression, waiting for it to appear.
    pub async fn find_xpath(&self, xpath: &str) -> Element<'_> {
        self.find_by("xpath", xpath).await
    }

    /// The button (or link styled as one) whose words are `label`.
    pub async fn button(&self, label: &str) -> Element<'_> {
        let xpath =
            format!("//button[normalize-space()='{label}'] | //a[normalize-space()='{label}']");
        self.find_by("xpath", &xpath).await
    }

    /// The page's visible text.
    pub async fn text(&self) -> String {
        let text = self
            .try_command(
                "POST",
                "execute/sync",
                json!({"script": "return document.body ? document.body.innerText : ''", "args": []}),
            )
            .await
            .unwrap_or_default();
        text.as_str().unwrap_or_default().to_owned()
    }

    /// Waits until the page's visible text contains `expected`, and returns the text.
    pub async fn wait_for_text(&self, expected: &str) -> String {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let text = self.text().await;
            if text.contains(expected) {
                return text;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "the page at {} never said {expected:?}; it says:\n{text}",
                    self.url().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the address of the page contains `part`.
    pub async fn wait_for_url(&self, part: &str) -> String {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let url = self.url().await;
            if url.contains(part) {
                return url;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "the browser never reached {part:?}; it is at {url}, saying:\n{}",
                    self.text().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its value.
    pub async fn execute(&self, script: &str, args: Value) -> Value {
        self.command(
            "POST",
            "execute/sync",
            json!({"script": script, "args": args}),
        )
        .await
    }

    /// Runs an asynchronous `script`, which calls `arguments[arguments.length - 1]` with
    /// its result.
    pub async fn execute_async(&self, script: &str, args: Value) -> Value {
        self.command(
            "POST",
            "execute/async",
            json!({"script": script, "args": args}),
        )
        .await
    }

    /// The serious and critical accessibility violations axe-core finds on the page
    /// shown now, one line each (`rule: help (n places)`); empty when there are none.
    pub async fn accessibility_violations(&self, axe_source: &str) -> Vec<String> {
        self.execute(axe_source, json!([])).await;
        let found = self
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] })
                   .then(r => done(r.violations
                     .filter(v => v.impact === 'serious' || v.impact === 'critical')
                     .map(v => v.id + ': ' + v.help + ' (' + v.nodes.length + ' places: '
                       + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', ') + ')')))
                   .catch(e => done(['axe failed: ' + e]));",
                json!([]),
            )
            .await;
        let lines = found
            .as_array()
            .unwrap_or_else(|| panic!("axe-core gave no list of violations: {found}"));
        lines
            .iter()
            .map(|l| l.as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// A PNG of the page shown now.
    pub async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine;
        let png = self.command("GET", "screenshot", json!({})).await;
        (base64::engine::general_purpose::STANDARD)
            .decode(png.as_str().unwrap_or_default())
            .unwrap()
    }
}

impl Element<'_> {
    /// Clicks the element, first scrolled to the middle of the window: scrolled only as
    /// far as the window's edge, it may sit under a toast or the sticky draft bar.
    ///
    /// An element htmx replaced between finding and clicking (a fragment that arrived by
    /// itself, such as the draft's impact) is "stale": it is found again and clicked, as
    /// a person would click what they see.
    pub async fn click(&self) {
        let centre = "arguments[0].scrollIntoView({block: 'center', inline: 'nearest'})";
        let mut id = self.id.clone();
        let mut last = Value::Null;
        for _ in 0..3 {
            let reference = json!({ ELEMENT: id });
            let scrolled = self
                .browser
                .try_command(
                    "POST",
                    "execute/sync",
                    json!({"script": centre, "args": [reference]}),
                )
                .await;
            let clicked = match scrolled {
                Ok(_) => {
                    let path = format!("element/{id}/click");
                    self.browser.try_command("POST", &path, json!({})).await
                }
                Err(error) => Err(error),
            };
            match clicked {
                Ok(_) => return,
                Err(error) if error["error"] == "stale element reference" => {
                    last = error;
                    let (using, value) = &self.locator;
                    id = self.browser.find_by(using, value).await.id;
                }
                Err(error) => panic!("WebDriver click on {:?}: {error}", self.locator),
            }
        }
        panic!(
            "{:?} kept being replaced while clicked: {last}",
            self.locator
        );
    }

    /// Replaces the field's text with `text`.
    pub async fn fill(&self, text: &str) {
        let clear = format!("element/{}/clear", self.id);
        self.browser.command("POST", &clear, json!({})).await;
        let path = format!("element/{}/value", self.id);
        self.browser
            .command("POST", &path, json!({ "text": text }))
            .await;
    }

    pub async fn text(&self) -> String {
        let path = format!("element/{}/text", self.id);
        let text = self.browser.command("GET", &path, json!({})).await;
        text.as_str().unwrap_or_default().to_owned()
    }

    /// The element's `value` property (what a field holds now).
    pub async fn value(&self) -> String {
        let path = format!("element/{}/property/value", self.id);
        let value = self.browser.command("GET", &path, json!({})).await;
        value.as_str().unwrap_or_default().to_owned()
    }

    pub async fn is_selected(&self) -> bool {
        let path = format!("element/{}/selected", self.id);
        self.browser.command("GET", &path, json!({})).await == true
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Killing the driver alone left its Chromium running, orphaned (84 processes after
        // one test run): the whole process group goes. SAFETY: kill(2) with the negated id
        // of the group this driver leads (process_group(0) above); it touches no memory.
        unsafe {
            libc::kill(-(self.driver.id() as libc::pid_t), libc::SIGKILL);
        }
        let _ = self.driver.wait();
    }
}

/// axe-core's script (`scripts/ensure-axe.sh` installs it under `.tools/`).
pub fn axe_source() -> Option<String> {
    let path = workspace_root().join(".tools/axe-core/node_modules/axe-core/axe.min.js");
    match std::fs::read_to_string(&path) {
        Ok(source) => Some(source),
        Err(e) => {
            let why = format!(
                "{} unreadable ({e}; run scripts/ensure-axe.sh)",
                path.display()
            );
            if browser_required() {
                panic!("browser tests are required (SCIMGATE_TEST_REQUIRE_BROWSER=1) but {why}");
            }
            eprintln!("note: accessibility check skipped, {why}");
            None
        }
    }
}

pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

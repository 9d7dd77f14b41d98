//! Just enough of the W3C WebDriver protocol (JSON over HTTP, spoken with `mesos::http_client`)
//! to drive headless chromium through chromedriver, as the web UI tests do.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use hyper::Method;
use mesos::http_client;
use serde_json::{json, Value};

use crate::Poll;

/// The W3C key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How often the waits look again.
const POLL: Poll = Poll::every(Duration::from_millis(200));

/// A WebDriver session on a chromedriver at 127.0.0.1. Every wait (and every command) is
/// bounded by the `wait` given to [`WebDriver::start`].
pub struct WebDriver {
    addr: String,
    session: String,
    wait: Duration,
}

impl WebDriver {
    async fn cmd(
        addr: &str,
        wait: Duration,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Value {
        let (headers, bytes) = match body {
            Some(b) => (
                vec![("Content-Type", "application/json")],
                Bytes::from(b.to_string()),
            ),
            None => (vec![], Bytes::new()),
        };
        let r = tokio::time::timeout(
            wait,
            http_client::request(addr, method.clone(), path, &headers, bytes),
        )
        .await
        .unwrap_or_else(|_| panic!("timed out after {wait:?}: {method} {path}"))
        .unwrap_or_else(|e| panic!("{method} {path}: {e:#}"));
        let text = r.text();
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text}"));
        assert!(
            r.status.is_success(),
            "{method} {path} -> {}: {text}",
            r.status
        );
        v["value"].clone()
    }

    /// Waits (up to `wait`) for the chromedriver on `127.0.0.1:port` to be ready, then opens a
    /// session of headless chromium with its profile in `profile` and a window of
    /// `window_size` (`"W,H"`).
    pub async fn start(port: u16, profile: &Path, window_size: &str, wait: Duration) -> WebDriver {
        let addr = format!("127.0.0.1:{port}");
        let a = &addr;
        POLL.until(wait, "chromedriver to be ready", || async move {
            let v = http_client::get_json(a, "/status").await.ok()?;
            (v["value"]["ready"] == true).then_some(())
        })
        .await;
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium_binary(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--disable-crash-reporter", "--disable-breakpad",
                         "--no-first-run", "--no-default-browser-check",
                         format!("--window-size={window_size}"),
                         format!("--user-data-dir={}", profile.display())]
            }
        }}});
        let v = Self::cmd(&addr, wait, Method::POST, "/session", Some(&caps)).await;
        let session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no sessionId in {v}"))
            .to_string();
        WebDriver {
            addr,
            session,
            wait,
        }
    }

    /// One command of this session (`path` below `/session/<id>`); its `value`.
    pub async fn session_cmd(&self, method: Method, path: &str, body: Option<&Value>) -> Value {
        let p = format!("/session/{}{path}", self.session);
        Self::cmd(&self.addr, self.wait, method, &p, body).await
    }

    /// Navigates to `url`.
    pub async fn goto(&self, url: &str) {
        self.session_cmd(Method::POST, "/url", Some(&json!({ "url": url })))
            .await;
    }

    /// The page's current URL.
    pub async fn current_url(&self) -> String {
        let v = self.session_cmd(Method::GET, "/url", None).await;
        v.as_str().unwrap_or("").to_string()
    }

    /// Runs `script` in the page with `args`; what it returns.
    pub async fn js(&self, script: &str, args: Value) -> Value {
        let body = json!({"script": script, "args": args});
        self.session_cmd(Method::POST, "/execute/sync", Some(&body))
            .await
    }

    /// The element reference of what `css` selects; panics if nothing does.
    pub async fn element(&self, css: &str) -> String {
        let v = self
            .session_cmd(
                Method::POST,
                "/element",
                Some(&json!({"using": "css selector", "value": css})),
            )
            .await;
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    /// Clicks the element `css` selects, as a user would (once it is shown).
    pub async fn click(&self, css: &str) {
        self.wait_visible(css).await;
        self.click_now(css).await;
    }

    /// Clicks the element `css` selects, without waiting for it to be shown.
    pub async fn click_now(&self, css: &str) {
        let id = self.element(css).await;
        self.session_cmd(
            Method::POST,
            &format!("/element/{id}/click"),
            Some(&json!({})),
        )
        .await;
    }

    /// Empties the field `css` and types `text` into it, key by key.
    pub async fn type_into(&self, css: &str, text: &str) {
        self.wait_visible(css).await;
        let id = self.element(css).await;
        self.session_cmd(
            Method::POST,
            &format!("/element/{id}/clear"),
            Some(&json!({})),
        )
        .await;
        if !text.is_empty() {
            self.session_cmd(
                Method::POST,
                &format!("/element/{id}/value"),
                Some(&json!({ "text": text })),
            )
            .await;
        }
    }

    /// Waits until `script` returns something other than null/false; returns it.
    pub async fn wait_js(&self, what: &str, script: &str, args: Value) -> Value {
        POLL.until(self.wait, what, || {
            let args = args.clone();
            async move {
                let v = self.js(script, args).await;
                (!v.is_null() && v != false).then_some(v)
            }
        })
        .await
    }

    /// Whether what `css` selects exists and is shown.
    pub async fn is_visible(&self, css: &str) -> bool {
        self.js(
            "var e = document.querySelector(arguments[0]);\
             return !!(e && e.getClientRects().length && getComputedStyle(e).visibility !== 'hidden');",
            json!([css]),
        )
        .await
            == true
    }

    /// Waits until what `css` selects is shown.
    pub async fn wait_visible(&self, css: &str) {
        POLL.until(self.wait, &format!("{css} to be shown"), || async move {
            self.is_visible(css).await.then_some(())
        })
        .await;
    }

    /// Waits until what `css` selects is not shown.
    pub async fn wait_hidden(&self, css: &str) {
        POLL.until(self.wait, &format!("{css} to be hidden"), || async move {
            (!self.is_visible(css).await).then_some(())
        })
        .await;
    }

    /// The rendered text of each body row of the table with id `table`.
    pub async fn rows(&self, table: &str) -> Vec<String> {
        let v = self
            .js(
                "var t = document.getElementById(arguments[0]);\
                 if (!t) return null;\
                 return Array.from(t.tBodies[0].rows).map(function (r) { return r.innerText; });",
                json!([table]),
            )
            .await;
        v.as_array()
            .unwrap_or_else(|| panic!("no table #{table} on the page"))
            .iter()
            .map(|r| r.as_str().unwrap_or("").to_string())
            .collect()
    }

    /// The rendered text of the element with id `id`.
    pub async fn text(&self, id: &str) -> String {
        let v = self
            .js(
                "var e = document.getElementById(arguments[0]); return e ? e.innerText : null;",
                json!([id]),
            )
            .await;
        v.as_str()
            .unwrap_or_else(|| panic!("no #{id} on the page"))
            .to_string()
    }

    /// Waits until the element `id` shows exactly `want`.
    pub async fn wait_text(&self, id: &str, want: &str) {
        let mut last = String::new();
        let r = tokio::time::timeout(self.wait, async {
            loop {
                last = self.text(id).await;
                if last == want {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await;
        if r.is_err() {
            panic!(
                "timed out after {:?} waiting for #{id} to show {want:?}; it shows {last:?}",
                self.wait
            );
        }
    }

    /// Waits until a row of `table` contains every one of `needles`; returns that row.
    pub async fn wait_row(&self, table: &str, needles: &[&str]) -> String {
        let mut last = Vec::new();
        let found = tokio::time::timeout(self.wait, async {
            loop {
                let rows = self.rows(table).await;
                if let Some(r) = rows.iter().find(|r| needles.iter().all(|n| r.contains(n))) {
                    return r.clone();
                }
                last = rows;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await;
        found.unwrap_or_else(|_| {
            panic!(
                "timed out after {:?} waiting for #{table} to show a row with {needles:?}; rows: {last:#?}",
                self.wait
            )
        })
    }

    /// Waits until `table` has exactly `n` rows and each satisfies `ok`; returns them.
    pub async fn wait_rows(&self, table: &str, n: usize, ok: impl Fn(&str) -> bool) -> Vec<String> {
        let mut last = Vec::new();
        let found = tokio::time::timeout(self.wait, async {
            loop {
                let rows = self.rows(table).await;
                if rows.len() == n && rows.iter().all(|r| ok(r)) {
                    return rows;
                }
                last = rows;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await;
        found.unwrap_or_else(|_| {
            panic!(
                "timed out after {:?} waiting for #{table} to have {n} fitting rows; rows: {last:#?}",
                self.wait
            )
        })
    }

    /// Saves a PNG screenshot of the page to `to` (creating its directory).
    pub async fn screenshot(&self, to: &Path) {
        let v = self.session_cmd(Method::GET, "/screenshot", None).await;
        let png = crate::b64_decode(v.as_str().expect("a base64 screenshot"));
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
        if let Some(dir) = to.parent() {
            std::fs::create_dir_all(dir).expect("creating the screenshot's directory");
        }
        std::fs::write(to, png).expect("writing the screenshot");
    }

    /// Ends the session (chromium quits); errors are ignored.
    pub async fn quit(self) {
        let p = format!("/session/{}", self.session);
        let _ = tokio::time::timeout(
            self.wait,
            http_client::request(&self.addr, Method::DELETE, &p, &[], Bytes::new()),
        )
        .await;
    }
}

/// Debian's chromium binary (`chromium` from `$PATH` if neither usual path exists).
pub fn chromium_binary() -> String {
    ["/usr/bin/chromium", "/usr/lib/chromium/chromium"]
        .iter()
        .find(|p| Path::new(p).exists())
        .map_or_else(|| "chromium".to_string(), |p| p.to_string())
}

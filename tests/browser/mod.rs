//! Debian's Chromium, headless, driven through chromedriver (W3C WebDriver over loopback)
//! with fantoccini: the consoles' end-to-end tests click as a person would. Each browser
//! has its own profile directory and its own chromedriver in a process group of its own,
//! killed whole at the end. Screenshots go to `target/tmp/console-screenshots/`, for a
//! reviewer to look at (never committed).
#![allow(dead_code)]

use crate::common::{free_port, require_tool, scratch};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) struct Browser {
    driver: Child,
    pub(crate) client: Client,
    /// The console's base address, `http://127.0.0.1:port`.
    pub(crate) base: String,
    dir: PathBuf,
    killed: bool,
}

/// Where screenshots are written.
pub(crate) fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

impl Browser {
    /// A fresh headless Chromium at a 1366x768 window (the smallest screen the consoles are
    /// made for), on the consoles at `base`.
    pub(crate) async fn open(name: &str, base: &str) -> Browser {
        require_tool("chromium");
        require_tool("chromedriver");
        let dir = scratch(name);
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("chromedriver.log")).expect("log"))
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile = dir.join("profile");
        std::fs::create_dir_all(&profile).expect("profile dir");
        let caps = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--window-size=1366,768", "--lang=zh-CN",
                    format!("--user-data-dir={}", profile.display()),
                ]
            }
        });
        let serde_json::Value::Object(caps) = caps else {
            unreachable!("an object")
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            match ClientBuilder::new(connector.clone())
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => break c,
                Err(e) => {
                    assert!(
                        Instant::now() < deadline,
                        "chromedriver did not start a session: {e}"
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        };
        Browser {
            driver,
            client,
            base: base.to_string(),
            dir,
            killed: false,
        }
    }

    pub(crate) async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
    }

    /// Signs in on the sign-in page as a person would: types, clicks.
    pub(crate) async fn sign_in(&self, name: &str, password: &str) {
        self.goto("/signin").await;
        self.type_into("#name", name).await;
        self.type_into("#password", password).await;
        self.click("#sign-in").await;
    }

    pub(crate) async fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        el.clear().await.expect("clear");
        el.send_keys(text).await.expect("type");
    }

    /// Clicks `css`, as a person's second click would if a live update replaced it first.
    pub(crate) async fn click(&self, css: &str) {
        self.on(css, "click", async |el| el.click().await.map(|_| ()))
            .await
    }

    /// The element, waited for (10 s).
    pub(crate) async fn find(&self, css: &str) -> Element {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(el) = self.client.find(Locator::Css(css)).await {
                return el;
            }
            if Instant::now() > deadline {
                self.shot(&format!("missing-{}", slug(css))).await;
                panic!("no {css} on {}", self.url().await);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What `act` gets from the element `css`. A live update may replace the element
    /// between finding it and using it (a stale element): then it is found again.
    async fn on<T>(
        &self,
        css: &str,
        what: &str,
        act: impl AsyncFn(Element) -> Result<T, fantoccini::error::CmdError>,
    ) -> T {
        let mut last = None;
        for _ in 0..20 {
            match act(self.find(css).await).await {
                Ok(v) => return v,
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{what} {css}: {last:?}");
    }

    /// The text of `css`.
    pub(crate) async fn text(&self, css: &str) -> String {
        self.on(css, "text of", async |el| el.text().await).await
    }

    /// The attribute `name` of `css` (empty when absent).
    pub(crate) async fn attr(&self, css: &str, name: &str) -> String {
        self.on(css, name, async |el| el.attr(name).await)
            .await
            .unwrap_or_default()
    }

    /// Whether `css` is shown.
    pub(crate) async fn shown(&self, css: &str) -> bool {
        self.on(css, "shown", async |el| el.is_displayed().await)
            .await
    }

    /// Whether `css` is on the page now.
    pub(crate) async fn has(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    /// Waits until the text of `css` satisfies `pred` (re-reading it as the page changes);
    /// returns it and how long it took.
    pub(crate) async fn wait_text(
        &self,
        css: &str,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> (String, Duration) {
        let start = Instant::now();
        let mut last = String::new();
        loop {
            if let Ok(el) = self.client.find(Locator::Css(css)).await {
                if let Ok(t) = el.text().await {
                    if pred(&t) {
                        return (t, start.elapsed());
                    }
                    last = t;
                }
            }
            if start.elapsed() > timeout {
                self.shot(&format!("timeout-{}", slug(css))).await;
                panic!("{css} never matched; last text {last:?}");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until `css` is on the page (`present`) or gone; returns how long it took.
    pub(crate) async fn wait_for(&self, css: &str, present: bool, timeout: Duration) -> Duration {
        let start = Instant::now();
        while self.has(css).await != present {
            if start.elapsed() > timeout {
                self.shot(&format!("timeout-{}", slug(css))).await;
                panic!("{css} never {}", if present { "appeared" } else { "went" });
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        start.elapsed()
    }

    /// Runs `script` in the page and returns its result (an async function body: `await`
    /// allowed, `arguments` as given).
    pub(crate) async fn run(&self, script: &str) -> serde_json::Value {
        self.client
            .execute_async(
                &format!(
                    "const done = arguments[arguments.length - 1]; (async () => {{ {script} }})().then(done, e => done('error: ' + e));"
                ),
                vec![],
            )
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}"))
    }

    pub(crate) async fn url(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default()
    }

    /// Saves what the browser shows as `name.png` among the screenshots.
    pub(crate) async fn shot(&self, name: &str) {
        if let Ok(png) = self.client.screenshot().await {
            let _ = std::fs::write(screenshots().join(format!("{name}.png")), png);
        }
    }

    /// Ends the session (Chromium exits) and chromedriver.
    pub(crate) async fn close(mut self) {
        let _ = self.client.clone().close().await;
        self.kill();
    }

    /// Kills chromedriver's process group (Chromium with it).
    fn kill(&mut self) {
        if self.killed {
            return;
        }
        self.killed = true;
        let group = self.driver.id() as libc::pid_t;
        if group > 1 {
            // SAFETY: kill(2) with a negative pid signals that process group only; the
            // group is chromedriver's own (process_group(0) at spawn).
            unsafe {
                libc::kill(-group, libc::SIGKILL);
            }
        }
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.kill();
    }
}

fn slug(css: &str) -> String {
    css.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

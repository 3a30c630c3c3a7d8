//! The web console in a real headless browser: Debian's chromium driven through chromedriver
//! (WebDriver, the `fantoccini` client) against the real broker binary on a free port. Where
//! `console_ui.rs` proves the HTTP contract, these tests prove what a person sees: the pages
//! load their scripts and styles with no console error, the forms work when filled and clicked,
//! htmx swaps the browser's and the search's answers in, and the live regions refresh.
//!
//! Needs `chromedriver` on `PATH` (`infra/local/browser.sh` installs Debian's `chromium` and
//! `chromium-driver` when missing). Without it every test here fails with that advice, unless
//! `WHARF_SKIP_BROWSER=1` says to skip them.
mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::http::Method;
use common::{Api, Broker, start_broker};
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

const TOKENS: &str = r#"[
  {token = "admin-token-0001", name = "admin", rights = [{topics = "*", actions = ["admin", "produce", "consume"]}]},
  {token = "reader-token-001", name = "reader", rights = [{topics = "*", actions = ["consume"]}]}
]"#;

/// How long a test waits for something to appear in the page.
const WAIT: Duration = Duration::from_secs(15);

/// `chromedriver` on `PATH`; `None` only when `WHARF_SKIP_BROWSER=1` (the test then skips).
fn chromedriver() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("chromedriver"))
            .find(|p| p.is_file())
    });
    match found {
        Some(p) => Some(p),
        None if std::env::var("WHARF_SKIP_BROWSER").as_deref() == Ok("1") => {
            eprintln!("skipping the browser test: no chromedriver and WHARF_SKIP_BROWSER=1");
            None
        }
        None => panic!(
            "chromedriver is not on PATH: run infra/local/browser.sh (installs Debian's chromium \
             and chromium-driver), or set WHARF_SKIP_BROWSER=1 to skip the browser tests"
        ),
    }
}

/// A chromedriver process on a free port, stopped on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start(bin: &PathBuf) -> Self {
        let mut child = Command::new(bin)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        // It prints "ChromeDriver was started successfully on port N." once it listens.
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let port = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| {
                l.split_once("started successfully on port ")
                    .map(|(_, p)| p.trim_end_matches('.').trim().to_owned())
            })
            .expect("chromedriver did not report its port");
        // Keep draining its stdout so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// chromedriver's log endpoint (`goog:loggingPrefs`): the browser console entries since the
/// last call.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (Method, Option<String>) {
        (Method::POST, Some(r#"{"type":"browser"}"#.to_owned()))
    }
}

/// A headless chromium session with blocking helpers, so tests can mix it with the blocking
/// [`Api`] client.
struct Browser {
    rt: tokio::runtime::Runtime,
    client: Option<Client>,
    base: String,
    _profile: tempfile::TempDir,
    _driver: Driver,
}

impl Browser {
    /// A browser pointed at `broker`; `None` when skipped (see [`chromedriver`]).
    fn open(broker: &Broker) -> Option<Self> {
        let driver = Driver::start(&chromedriver()?);
        let profile = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let caps = json!({
            "goog:chromeOptions": {
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--disable-background-networking", "--disable-sync",
                    "--disable-component-update", "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            },
            "goog:loggingPrefs": {"browser": "ALL"}
        });
        let Value::Object(caps) = caps else {
            unreachable!()
        };
        let client = rt
            .block_on(
                ClientBuilder::new(HttpConnector::new())
                    .capabilities(caps)
                    .connect(&driver.url),
            )
            .expect("chromium session through chromedriver");
        Some(Self {
            rt,
            client: Some(client),
            base: broker.url.clone(),
            _profile: profile,
            _driver: driver,
        })
    }

    fn c(&self) -> &Client {
        self.client.as_ref().expect("open")
    }

    fn goto(&self, path: &str) {
        self.rt
            .block_on(self.c().goto(&format!("{}{path}", self.base)))
            .unwrap_or_else(|e| panic!("goto {path}: {e}"));
    }

    fn path(&self) -> String {
        let url = self.rt.block_on(self.c().current_url()).unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// The visible text of the first element matching `css`.
    fn text(&self, css: &str) -> String {
        self.rt
            .block_on(async { self.c().find(Locator::Css(css)).await?.text().await })
            .unwrap_or_else(|e| panic!("text of {css}: {e}"))
    }

    fn exists(&self, css: &str) -> bool {
        !self
            .rt
            .block_on(self.c().find_all(Locator::Css(css)))
            .unwrap()
            .is_empty()
    }

    /// Waits until the first element matching `css` shows text holding `needle`; its text.
    fn wait_text(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = self.rt.block_on(async {
                match self.c().find(Locator::Css(css)).await {
                    Ok(e) => e.text().await.unwrap_or_default(),
                    Err(_) => String::new(),
                }
            });
            if text.contains(needle) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "{css} never showed {needle:?}; it shows {text:?} on {}",
                self.path()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Replaces the value of the field matching `css` by typing `text`.
    fn fill(&self, css: &str, text: &str) {
        self.rt
            .block_on(async {
                let e = self.c().find(Locator::Css(css)).await?;
                e.clear().await?;
                e.send_keys(text).await
            })
            .unwrap_or_else(|e| panic!("fill {css}: {e}"));
    }

    fn select(&self, css: &str, value: &str) {
        self.rt
            .block_on(async {
                self.c()
                    .find(Locator::Css(css))
                    .await?
                    .select_by_value(value)
                    .await
            })
            .unwrap_or_else(|e| panic!("select {value} in {css}: {e}"));
    }

    fn click(&self, css: &str) {
        self.rt
            .block_on(async { self.c().find(Locator::Css(css)).await?.click().await })
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Runs `script` (an async body: `arguments[0]` is the callback) in the page.
    fn run_async(&self, script: &str) -> Value {
        self.rt
            .block_on(self.c().execute_async(script, vec![]))
            .unwrap_or_else(|e| panic!("script failed: {e}"))
    }

    fn run(&self, script: &str) -> Value {
        self.rt
            .block_on(self.c().execute(script, vec![]))
            .unwrap_or_else(|e| panic!("script failed: {e}"))
    }

    /// The console errors (level SEVERE: script errors, failed loads) since the last call.
    fn console_errors(&self) -> Vec<String> {
        let entries = self
            .rt
            .block_on(self.c().issue_cmd(BrowserLog))
            .expect("browser log");
        entries
            .as_array()
            .expect("log entries")
            .iter()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Posts `fields` from inside the page with the session's cookie (as a forged form or a
    /// script on the console's origin would); the status.
    fn forged_post(&self, path: &str, fields: &[(&str, &str)]) -> u64 {
        let body = serde_json::to_string(fields).unwrap();
        let script = format!(
            "const done = arguments[0];
             fetch({path:?}, {{method: 'POST', body: new URLSearchParams({body}), redirect: 'manual'}})
               .then(r => done(r.status), e => done(String(e)));"
        );
        let status = self.run_async(&script);
        status
            .as_u64()
            .unwrap_or_else(|| panic!("POST {path}: {status}"))
    }

    /// The CSRF token the current page's forms carry.
    fn csrf(&self) -> String {
        self.run("return document.querySelector('input[name=csrf]').value;")
            .as_str()
            .expect("a csrf field on the page")
            .to_owned()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = self.rt.block_on(client.close());
        }
    }
}

/// Asserts `path` loads as a full console page: no console error, htmx and the stylesheet
/// loaded, a main landmark with a heading.
fn assert_renders_cleanly(b: &Browser, path: &str) {
    b.goto(path);
    let ready = b.run(
        "return {htmx: typeof htmx === 'object',
                 styled: [...document.styleSheets].some(s => s.href && s.href.endsWith('/console.css') && s.cssRules.length > 0),
                 heading: document.querySelector('main h1') !== null};",
    );
    assert_eq!(
        ready,
        json!({"htmx": true, "styled": true, "heading": true}),
        "{path}"
    );
    // Let the live regions (every 2-5 s) refresh once, so their requests are checked too.
    std::thread::sleep(Duration::from_millis(200));
    let errors = b.console_errors();
    assert!(errors.is_empty(), "{path}: console errors {errors:?}");
}

#[test]
fn every_console_page_renders_in_the_browser_with_no_console_error() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[]);
    let Some(b) = Browser::open(&broker) else {
        return;
    };
    let api = Api::new(&broker.url);
    api.create_topic("order.svc.created", 2);
    api.create_topic("order.svc.created.dlq", 1);
    let records: Vec<_> = (0..30)
        .map(|i| json!({"key": format!("order-{i}"), "value": {"id": i}, "headers": {"trace-id": format!("t-{i}")}}))
        .collect();
    assert_eq!(api.produce("order.svc.created", json!(records)).0, 200);
    let dlq_headers = json!({"wharf-dlq-error": "boom", "wharf-dlq-source-topic": "order.svc.created",
        "wharf-dlq-source-partition": "0", "wharf-dlq-source-offset": "3"});
    assert_eq!(
        api.produce(
            "order.svc.created.dlq",
            json!([{"value": {"id": 3}, "headers": dlq_headers}])
        )
        .0,
        200
    );
    let (status, body) = api.post(
        "/v1/groups/g1/members",
        &json!({"topic": "order.svc.created"}),
    );
    assert_eq!(status, 200, "{body}");
    for path in [
        "/ui/",
        "/ui/topics",
        "/ui/topics/order.svc.created",
        "/ui/topics/order.svc.created/messages?from=earliest&format=hex",
        "/ui/topics/order.svc.created/search?q=t-1",
        "/ui/topics/order.svc.created/produce",
        "/ui/groups",
        "/ui/groups/g1",
        "/ui/dlq",
        "/ui/dlq/order.svc.created.dlq",
    ] {
        assert_renders_cleanly(&b, path);
    }
    // The live regions refresh without errors: wait past the overview's refresh period.
    b.goto("/ui/");
    std::thread::sleep(Duration::from_secs(6));
    let errors = b.console_errors();
    assert!(errors.is_empty(), "overview after refreshes: {errors:?}");
    // The check is real: a page that fails to load something shows up.
    b.goto("/ui/topics/no.such.topic");
    assert!(
        b.console_errors().iter().any(|e| e.contains("404")),
        "a 404 page load is reported as a console error"
    );
}

#[test]
fn a_topic_created_and_a_record_produced_through_the_forms_is_browsed_and_found_by_header_search() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[]);
    let Some(b) = Browser::open(&broker) else {
        return;
    };
    b.goto("/ui/topics");
    b.fill("#name", "pay.ledger.posted");
    b.fill("#partitions", "3");
    b.click("form[action='/ui/topics'] button[type=submit]");
    b.wait_text("main h1", "pay.ledger.posted");
    assert_eq!(b.path(), "/ui/topics/pay.ledger.posted");
    let api = Api::new(&broker.url);
    assert_eq!(api.describe("pay.ledger.posted")["partitions"], 3);

    b.goto("/ui/topics/pay.ledger.posted/produce");
    b.fill("#p-key", "acct-7");
    b.fill("#p-headers", "trace-id: needle-in-header\nsource: console");
    b.fill("#p-value", r#"{"amount": 12}"#);
    b.select("#p-partition", "2");
    b.click("form[action$='/produce'] button[type=submit]");
    b.wait_text("#produce-outcome", "Landed in partition 2 at offset 0");
    for i in 0..5 {
        b.fill("#p-key", &format!("filler-{i}"));
        b.fill("#p-headers", "");
        b.fill("#p-value", &format!(r#"{{"filler": {i}}}"#));
        b.click("form[action$='/produce'] button[type=submit]");
        b.wait_text("#produce-outcome", "Landed in partition");
    }
    assert_eq!(
        api.fetch_all("pay.ledger.posted", 2)[0]["headers"],
        json!({"trace-id": "needle-in-header", "source": "console"})
    );

    // The message browser, swapped in by htmx (the page itself does not change).
    b.goto("/ui/topics/pay.ledger.posted");
    b.select("#b-partition", "2");
    b.select("#b-from", "earliest");
    b.click("form[action$='/messages'] button[type=submit]");
    let shown = b.wait_text("#messages", "acct-7");
    assert!(shown.contains("needle-in-header"), "{shown}");
    assert_eq!(b.path(), "/ui/topics/pay.ledger.posted");

    // Search in headers only: the text is in no key or value.
    b.fill("#s-q", "NEEDLE-in");
    b.click("input[name=in_key]");
    b.click("input[name=in_value]");
    b.click("form[role=search] button[type=submit]");
    let summary = b.wait_text("#search-summary", "matches");
    assert!(
        summary.starts_with("scanned 6 records in") && summary.ends_with(" 1 matches"),
        "{summary}"
    );
    assert!(b.text("#messages").contains("acct-7"));
    // Keys and values only: nothing.
    b.click("input[name=in_headers]");
    b.click("input[name=in_key]");
    b.click("input[name=in_value]");
    b.click("form[role=search] button[type=submit]");
    b.wait_text("#search-summary", " 0 matches");
    let errors = b.console_errors();
    assert!(errors.is_empty(), "{errors:?}");
}

/// The seconds a lease cell shows (`"49.5 s"`).
fn lease_seconds(text: &str) -> f64 {
    text.trim()
        .strip_suffix(" s")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("lease {text:?} is not in seconds"))
}

#[test]
fn a_group_with_a_live_member_shows_its_lease_counting_down_and_is_reset_only_after_it_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[]);
    let Some(b) = Browser::open(&broker) else {
        return;
    };
    let api = Api::new(&broker.url);
    api.create_topic("inv.stock.moved", 1);
    let records: Vec<_> = (0..5).map(|i| json!({"value": i})).collect();
    assert_eq!(api.produce("inv.stock.moved", json!(records)).0, 200);
    let (status, joined) = api.post(
        "/v1/groups/stock/members",
        &json!({"topic": "inv.stock.moved", "member_id": "m1", "lease_ms": 50_000}),
    );
    assert_eq!(status, 200, "{joined}");

    b.goto("/ui/groups/stock");
    assert_eq!(b.text("td.mono"), "m1");
    assert_eq!(b.text("td.lag"), "5");
    let first = lease_seconds(&b.text("td.lease"));
    // The live region refreshes every 2 s: the lease counts down without a reload (a reload
    // would drop this mark).
    b.run("window.wharfMark = 1; return null;");
    let deadline = Instant::now() + WAIT;
    loop {
        let later = lease_seconds(&b.text("td.lease"));
        if later < first {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the lease stayed at {first} s, then {later} s"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(b.run("return window.wharfMark === 1;"), json!(true));
    assert!(b.exists("#reset-blocked"));
    assert!(!b.exists("#r-to"), "no reset form while a lease lives");

    // Forged past the hidden form, with the session's CSRF token: refused while the lease lives.
    b.goto("/ui/topics");
    let csrf = b.csrf();
    let status = b.forged_post(
        "/ui/groups/stock/reset",
        &[("csrf", &csrf), ("to", "latest"), ("confirm", "1")],
    );
    assert_eq!(status, 409);

    assert_eq!(api.delete("/v1/groups/stock/members/m1").0, 204);
    b.goto("/ui/groups/stock");
    assert!(!b.exists("#reset-blocked"));
    b.select("#r-to", "latest");
    b.click("form[action$='/reset'] button[type=submit]");
    let preview = b.wait_text("main", "Would become");
    assert!(preview.contains("Reset stock?"), "{preview}");
    b.click("form[action$='/reset'] button.danger");
    b.wait_text("td.lag", "0");
    assert_eq!(b.path(), "/ui/groups/stock");
    let (_, d) = api.get("/v1/groups/stock");
    assert_eq!(d["partitions"][0]["committed_offset"], 5, "{d}");
}

#[test]
fn a_dlq_record_replayed_twice_from_the_browser_lands_once_in_its_source_topic() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[]);
    let Some(b) = Browser::open(&broker) else {
        return;
    };
    let api = Api::new(&broker.url);
    api.create_topic("ship.label.printed", 2);
    api.create_topic("ship.label.printed.dlq", 1);
    let headers = json!({
        "wharf-dlq-error": "handler failed: boom", "wharf-dlq-attempts": "3",
        "wharf-dlq-source-topic": "ship.label.printed", "wharf-dlq-source-partition": "1",
        "wharf-dlq-source-offset": "17", "wharf-dlq-group": "printer"
    });
    let (status, _) = api.produce(
        "ship.label.printed.dlq",
        json!([{"key": "label-9", "value": {"n": 9}, "headers": headers}]),
    );
    assert_eq!(status, 200);

    for expected in [
        "appended at partition 1 offset 0",
        "already replayed (partition 1 offset 0)",
    ] {
        b.goto("/ui/dlq/ship.label.printed.dlq");
        assert!(b.text("main").contains("handler failed: boom"));
        b.click("input[name=sel][value='0:0']");
        b.click("button[name=what][value=selected]");
        b.wait_text("main", expected);
    }
    let records = api.fetch_all("ship.label.printed", 1);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["key"], "label-9");
    assert!(api.fetch_all("ship.label.printed", 0).is_empty());
    let errors = b.console_errors();
    assert!(errors.is_empty(), "{errors:?}");
}

#[test]
fn with_auth_a_consume_only_token_sees_no_admin_action_and_a_forged_admin_post_is_403() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[("WHARF_AUTH_TOKENS", TOKENS)]);
    let Some(b) = Browser::open(&broker) else {
        return;
    };
    let admin = Api::with_token(&broker.url, "admin-token-0001");
    admin.create_topic("hr.people.hired", 1);
    let (status, _) = admin.post(
        "/v1/groups/payroll/members",
        &json!({"topic": "hr.people.hired", "member_id": "m1"}),
    );
    assert_eq!(status, 200);
    assert_eq!(admin.delete("/v1/groups/payroll/members/m1").0, 204);

    b.goto("/ui/topics");
    assert_eq!(b.path(), "/ui/login");
    b.fill("#token", "reader-token-001");
    b.click("form[action='/ui/login'] button[type=submit]");
    b.wait_text("main h1", "Overview");
    // The session cookie is HttpOnly: no script on the page can read it.
    assert_eq!(b.run("return document.cookie;"), json!(""));

    b.goto("/ui/topics");
    let page = b.text("main");
    assert!(
        page.contains("hr.people.hired") && !page.contains("Create a topic"),
        "{page}"
    );
    b.goto("/ui/topics/hr.people.hired");
    let page = b.text("main");
    assert!(
        !page.contains("Delete topic") && !page.contains("Produce a record"),
        "{page}"
    );
    assert!(!b.exists("form[action$='/settings']"));
    b.goto("/ui/groups/payroll");
    assert!(!b.exists("#r-to"), "a reader sees no reset form");
    b.goto("/ui/topics/hr.people.hired");
    let csrf = b.csrf();
    let errors = b.console_errors();
    assert!(errors.is_empty(), "{errors:?}");

    // Forged admin requests from the reader's session, with its valid CSRF token.
    for (path, fields) in [
        (
            "/ui/topics",
            vec![("name", "hr.people.fired"), ("partitions", "1")],
        ),
        (
            "/ui/topics/hr.people.hired/delete",
            vec![("confirm", "hr.people.hired")],
        ),
        (
            "/ui/topics/hr.people.hired/settings",
            vec![("partitions", "4"), ("retention_ms", "-1")],
        ),
        (
            "/ui/topics/hr.people.hired/produce",
            vec![("value", "{}"), ("value_kind", "json"), ("acks", "all")],
        ),
        (
            "/ui/groups/payroll/reset",
            vec![("to", "latest"), ("confirm", "1")],
        ),
    ] {
        let mut fields = fields;
        fields.push(("csrf", &csrf));
        assert_eq!(b.forged_post(path, &fields), 403, "POST {path}");
    }
    assert_eq!(admin.get("/v1/topics/hr.people.fired").0, 404);
    assert_eq!(admin.describe("hr.people.hired")["partitions"], 1);
    assert!(admin.fetch_all("hr.people.hired", 0).is_empty());
}

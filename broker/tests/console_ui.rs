//! The web console at `/ui/` on the real binary, over HTTP as a browser would send it (forms,
//! cookies, no JavaScript): every page renders, every mutation works through its form, and the
//! session rules hold (login cookie, CSRF token, what a token may not do is neither shown nor
//! accepted).
mod common;

use std::time::Duration;

use common::{Api, Broker, start_broker};
use serde_json::json;

const TOKENS: &str = r#"[
  {token = "admin-token-0001", name = "admin", rights = [{topics = "*", actions = ["admin", "produce", "consume"]}]},
  {token = "reader-token-001", name = "reader", rights = [{topics = "*", actions = ["consume"]}]}
]"#;

/// A browser-like client: no redirects followed, an optional session cookie.
struct Ui {
    base: String,
    http: reqwest::blocking::Client,
    cookie: Option<String>,
}

/// Status, `Location` header, body.
type Answer = (u16, Option<String>, String);

impl Ui {
    fn new(broker: &Broker) -> Self {
        Self {
            base: broker.url.clone(),
            http: reqwest::blocking::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            cookie: None,
        }
    }

    fn send(&self, rb: reqwest::blocking::RequestBuilder) -> Answer {
        let rb = match &self.cookie {
            Some(c) => rb.header("cookie", c),
            None => rb,
        };
        let resp = rb.send().expect("request");
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, location, resp.text().unwrap())
    }

    fn get(&self, path: &str) -> Answer {
        self.send(self.http.get(format!("{}{path}", self.base)))
    }

    fn post(&self, path: &str, form: &[(&str, &str)]) -> Answer {
        self.send(self.http.post(format!("{}{path}", self.base)).form(form))
    }

    /// The page's CSRF token (every form of a session carries the same one).
    fn csrf(&self, path: &str) -> String {
        let (status, _, body) = self.get(path);
        assert_eq!(status, 200, "{body}");
        csrf_in(&body).unwrap_or_else(|| panic!("no csrf field in {path}: {body}"))
    }

    /// Logs in with `token`, keeping the session cookie.
    fn login(&mut self, token: &str) {
        let resp = self
            .http
            .post(format!("{}/ui/login", self.base))
            .form(&[("token", token)])
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 303);
        let set = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Strict"),
            "{set}"
        );
        self.cookie = Some(set.split(';').next().unwrap().to_owned());
    }
}

fn csrf_in(body: &str) -> Option<String> {
    let at = body.find(r#"name="csrf" value=""#)? + r#"name="csrf" value=""#.len();
    Some(body[at..at + body[at..].find('"')?].to_owned())
}

#[test]
fn every_console_page_renders_as_html() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[]);
    let api = Api::new(&broker.url);
    api.create_topic("order.svc.created", 2);
    api.create_topic("order.svc.created.dlq", 1);
    let (status, _) = api.produce(
        "order.svc.created",
        json!([{"key": "k", "value": {"a": 1}}]),
    );
    assert_eq!(status, 200);
    let (status, _) = api.post(
        "/v1/groups/g1/members",
        &json!({"topic": "order.svc.created"}),
    );
    assert_eq!(status, 200);
    let ui = Ui::new(&broker);
    for path in [
        "/ui/",
        "/ui/overview/live",
        "/ui/topics",
        "/ui/topics?rows=1",
        "/ui/topics/order.svc.created",
        "/ui/topics/order.svc.created/partitions",
        "/ui/topics/order.svc.created/messages?from=earliest",
        "/ui/topics/order.svc.created/search?q=k",
        "/ui/topics/order.svc.created/produce",
        "/ui/groups",
        "/ui/groups/g1",
        "/ui/groups/g1/live",
        "/ui/dlq",
        "/ui/dlq/order.svc.created.dlq",
        "/ui/login",
    ] {
        let (status, _, body) = ui.get(path);
        assert_eq!(status, 200, "{path}: {body}");
        assert!(
            body.contains('<') && !body.contains("\"error\""),
            "{path}: {body}"
        );
    }
    let (status, _, body) = ui.get("/ui/assets/htmx.min.js");
    assert_eq!(status, 200);
    assert!(body.contains("htmx"));
    assert_eq!(ui.get("/ui").1.as_deref(), Some("/ui/"));
    let (status, _, body) = ui.get("/ui/topics/nope");
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("unknown_topic"), "{body}");
}

#[test]
fn a_topic_created_and_a_record_produced_through_the_forms_is_browsed_and_found_by_header_search() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[]);
    let ui = Ui::new(&broker);
    let csrf = ui.csrf("/ui/topics");
    let (status, location, body) = ui.post(
        "/ui/topics",
        &[
            ("csrf", &csrf),
            ("name", "pay.ledger.posted"),
            ("partitions", "3"),
            ("retention_ms", ""),
        ],
    );
    assert_eq!(
        (status, location.as_deref()),
        (303, Some("/ui/topics/pay.ledger.posted")),
        "{body}"
    );
    let (_, _, body) = ui.get("/ui/topics");
    assert!(body.contains("pay.ledger.posted"));

    let (status, _, body) = ui.post(
        "/ui/topics/pay.ledger.posted/produce",
        &[
            ("csrf", &csrf),
            ("key", "acct-7"),
            ("headers", "trace-id: needle-in-header\nsource: console"),
            ("value", r#"{"amount": 12}"#),
            ("value_kind", "json"),
            ("partition", "2"),
            ("acks", "all"),
        ],
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Landed in partition 2 at offset 0"), "{body}");
    for i in 0..20 {
        let v = format!(r#"{{"filler": {i}}}"#);
        let (status, _, _) = ui.post(
            "/ui/topics/pay.ledger.posted/produce",
            &[
                ("csrf", &csrf),
                ("value", &v),
                ("value_kind", "json"),
                ("acks", "leader"),
            ],
        );
        assert_eq!(status, 200);
    }

    let (_, _, body) =
        ui.get("/ui/topics/pay.ledger.posted/messages?partition=2&from=offset&offset=0&n=1");
    assert!(
        body.contains("acct-7") && body.contains("&quot;amount&quot;: 12"),
        "{body}"
    );
    assert!(body.contains("trace-id: needle-in-header"), "{body}");

    let (_, _, body) = ui.get("/ui/topics/pay.ledger.posted/search?q=NEEDLE-in&in_headers=1");
    assert!(body.contains("scanned 21 records in"), "{body}");
    assert!(body.contains(" 1 matches"), "{body}");
    assert!(body.contains("acct-7"), "{body}");
    // The same text is in no key or value.
    let (_, _, body) = ui.get("/ui/topics/pay.ledger.posted/search?q=needle&in_key=1&in_value=1");
    assert!(body.contains(" 0 matches"), "{body}");
    // A budget of 5 records stops early and offers to continue.
    let (_, _, body) = ui.get("/ui/topics/pay.ledger.posted/search?q=filler&max_records=5");
    assert!(
        body.contains("scanned 5 records") && body.contains("stopped at the budget"),
        "{body}"
    );

    // A text value and the browser's hex view.
    let (status, _, _) = ui.post(
        "/ui/topics/pay.ledger.posted/produce",
        &[
            ("csrf", &csrf),
            ("value", "hi"),
            ("value_kind", "text"),
            ("partition", "0"),
            ("acks", "all"),
        ],
    );
    assert_eq!(status, 200);
    let (_, _, body) =
        ui.get("/ui/topics/pay.ledger.posted/messages?partition=0&from=latest&n=1&format=hex");
    assert!(body.contains("6869"), "{body}");
}

#[test]
fn mutations_without_the_sessions_csrf_token_are_refused_with_403() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[]);
    let ui = Ui::new(&broker);
    for csrf in ["", "0000"] {
        let (status, _, body) = ui.post(
            "/ui/topics",
            &[("csrf", csrf), ("name", "x.y.z"), ("partitions", "1")],
        );
        assert_eq!(status, 403, "{body}");
    }
    assert!(Api::new(&broker.url).get("/v1/topics/x.y.z").0 == 404);
}

#[test]
fn a_topic_is_deleted_only_when_its_name_is_typed() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[]);
    let api = Api::new(&broker.url);
    api.create_topic("a.b.c", 1);
    let ui = Ui::new(&broker);
    let csrf = ui.csrf("/ui/topics/a.b.c");
    let (status, _, _) = ui.post(
        "/ui/topics/a.b.c/delete",
        &[("csrf", &csrf), ("confirm", "a.b")],
    );
    assert_eq!(status, 400);
    assert_eq!(api.get("/v1/topics/a.b.c").0, 200);
    let (status, _, _) = ui.post(
        "/ui/topics/a.b.c/settings",
        &[("csrf", &csrf), ("partitions", "3"), ("retention_ms", "-1")],
    );
    assert_eq!(status, 303);
    let d = api.describe("a.b.c");
    assert_eq!(
        (d["partitions"].as_u64(), d["retention_ms"].as_i64()),
        (Some(3), Some(-1))
    );
    let (status, _, _) = ui.post(
        "/ui/topics/a.b.c/delete",
        &[("csrf", &csrf), ("confirm", "a.b.c")],
    );
    assert_eq!(status, 303);
    assert_eq!(api.get("/v1/topics/a.b.c").0, 404);
}

#[test]
fn a_group_with_a_live_member_shows_lease_and_lag_and_is_reset_only_after_the_member_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[]);
    let api = Api::new(&broker.url);
    api.create_topic("inv.stock.moved", 1);
    let records: Vec<_> = (0..5).map(|i| json!({"value": i})).collect();
    assert_eq!(api.produce("inv.stock.moved", json!(records)).0, 200);
    let (status, joined) = api.post(
        "/v1/groups/stock/members",
        &json!({"topic": "inv.stock.moved", "member_id": "m1"}),
    );
    assert_eq!(status, 200, "{joined}");

    let ui = Ui::new(&broker);
    let (_, _, body) = ui.get("/ui/groups/stock");
    assert!(body.contains("m1") && body.contains("Lease left"), "{body}");
    assert!(body.contains(r#"<td class="num lag">5</td>"#), "{body}");
    assert!(body.contains("reset-blocked"), "{body}");
    // No reset form while the lease lives; the session's token comes from another page.
    assert!(csrf_in(&body).is_none(), "{body}");
    let csrf = ui.csrf("/ui/topics");
    let (_, _, list) = ui.get("/ui/groups");
    assert!(
        list.contains("stock") && list.contains("<td class=\"num\">5</td>"),
        "{list}"
    );

    // Forged past the hidden form: the service refuses while the lease lives.
    let (status, _, body) = ui.post(
        "/ui/groups/stock/reset",
        &[("csrf", &csrf), ("to", "latest"), ("confirm", "1")],
    );
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("members_live"), "{body}");

    assert_eq!(api.delete("/v1/groups/stock/members/m1").0, 204);
    let (_, _, body) = ui.get("/ui/groups/stock");
    assert!(!body.contains("reset-blocked"), "{body}");
    let (status, _, preview) = ui.post(
        "/ui/groups/stock/reset",
        &[("csrf", &csrf), ("to", "latest")],
    );
    assert_eq!(status, 200);
    assert!(
        preview.contains("Would become") && preview.contains("<td class=\"num\">5</td>"),
        "{preview}"
    );
    let (status, _, _) = ui.post(
        "/ui/groups/stock/reset",
        &[("csrf", &csrf), ("to", "latest"), ("confirm", "1")],
    );
    assert_eq!(status, 303);
    let (_, d) = api.get("/v1/groups/stock");
    assert_eq!(d["partitions"][0]["committed_offset"], 5, "{d}");
    assert_eq!(d["partitions"][0]["lag"], 0, "{d}");
}

#[test]
fn a_dlq_record_replayed_twice_lands_once_in_its_source_topic() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[]);
    let api = Api::new(&broker.url);
    api.create_topic("ship.label.printed", 2);
    api.create_topic("ship.label.printed.dlq", 1);
    let headers = json!({
        "wharf-dlq-error": "handler failed: boom", "wharf-dlq-attempts": "3",
        "wharf-dlq-source-topic": "ship.label.printed", "wharf-dlq-source-partition": "1",
        "wharf-dlq-source-offset": "17", "wharf-dlq-group": "printer", "trace": "t-1"
    });
    let (status, _) = api.produce(
        "ship.label.printed.dlq",
        json!([{"key": "label-9", "value": {"n": 9}, "headers": headers}, {"key": "label-10", "value": {"n": 10}, "headers": headers}]),
    );
    assert_eq!(status, 200);

    let ui = Ui::new(&broker);
    let (_, _, page) = ui.get("/ui/dlq/ship.label.printed.dlq");
    assert!(
        page.contains("handler failed: boom") && page.contains("printer") && page.contains(">17<"),
        "{page}"
    );
    let csrf = csrf_in(&page).unwrap();
    for round in 0..2 {
        let (status, _, body) = ui.post(
            "/ui/dlq/ship.label.printed.dlq/replay",
            &[("csrf", &csrf), ("sel", "0:0"), ("what", "selected")],
        );
        assert_eq!(status, 200, "{body}");
        let expect = if round == 0 {
            "appended at partition 1 offset 0"
        } else {
            "already replayed"
        };
        assert!(body.contains(expect), "round {round}: {body}");
    }
    let records = api.fetch_all("ship.label.printed", 1);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["key"], "label-9");
    assert_eq!(records[0]["headers"], json!({"trace": "t-1"}));
    // "All" replays the other one once and the first not again.
    let (_, _, body) = ui.post(
        "/ui/dlq/ship.label.printed.dlq/replay",
        &[("csrf", &csrf), ("what", "all")],
    );
    assert!(
        body.contains("already replayed") && body.contains("appended at partition 1 offset 1"),
        "{body}"
    );
    assert_eq!(api.fetch_all("ship.label.printed", 1).len(), 2);
}

#[test]
fn with_auth_a_consume_only_token_sees_no_admin_action_and_a_forged_admin_post_is_403() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[("WHARF_AUTH_TOKENS", TOKENS)]);
    let admin_api = Api::with_token(&broker.url, "admin-token-0001");
    admin_api.create_topic("hr.people.hired", 1);

    let mut reader = Ui::new(&broker);
    let (status, location, _) = reader.get("/ui/topics");
    assert_eq!((status, location.as_deref()), (303, Some("/ui/login")));
    let (status, _, body) = reader.post("/ui/login", &[("token", "wrong")]);
    assert_eq!(status, 401, "{body}");
    reader.login("reader-token-001");
    let (status, _, topics) = reader.get("/ui/topics");
    assert_eq!(status, 200, "{topics}");
    assert!(
        topics.contains("hr.people.hired") && !topics.contains("Create a topic"),
        "{topics}"
    );
    let (_, _, topic) = reader.get("/ui/topics/hr.people.hired");
    assert!(
        !topic.contains("Delete topic") && !topic.contains("Produce a record"),
        "{topic}"
    );
    let csrf = csrf_in(&topic).unwrap();
    // With the reader's own valid CSRF token, admin actions are still refused.
    let (status, _, _) = reader.post(
        "/ui/topics",
        &[
            ("csrf", &csrf),
            ("name", "hr.people.fired"),
            ("partitions", "1"),
        ],
    );
    assert_eq!(status, 403);
    let (status, _, _) = reader.post(
        "/ui/topics/hr.people.hired/delete",
        &[("csrf", &csrf), ("confirm", "hr.people.hired")],
    );
    assert_eq!(status, 403);
    assert_eq!(reader.get("/ui/topics/hr.people.hired/produce").0, 403);

    let mut admin = Ui::new(&broker);
    admin.login("admin-token-0001");
    // Another session's CSRF token does not work here.
    let (status, _, _) = admin.post(
        "/ui/topics",
        &[
            ("csrf", &csrf),
            ("name", "hr.people.fired"),
            ("partitions", "1"),
        ],
    );
    assert_eq!(status, 403);
    let admin_csrf = admin.csrf("/ui/topics");
    assert_ne!(admin_csrf, csrf);
    let (_, _, page) = admin.get("/ui/topics");
    assert!(page.contains("Create a topic"));
    let (status, _, _) = admin.post(
        "/ui/topics",
        &[
            ("csrf", &admin_csrf),
            ("name", "hr.people.fired"),
            ("partitions", "1"),
        ],
    );
    assert_eq!(status, 303);
    assert_eq!(admin_api.get("/v1/topics/hr.people.fired").0, 200);
}

#[test]
fn the_topic_page_shows_the_schema_subjects_latest_versions_compatibility_and_validation_mode() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[]);
    let api = Api::new(&broker.url);
    api.create_topic_with(
        &json!({"name": "cat.item.listed", "partitions": 1, "schema_validation": "json"}),
    );
    let ui = Ui::new(&broker);
    let (status, _, body) = ui.get("/ui/topics/cat.item.listed");
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("Validation on produce: <code>json</code>"),
        "{body}"
    );
    assert_eq!(body.matches("not registered").count(), 2, "{body}");

    let register = |schema: &str| {
        let (status, body) = api.post(
            "/schemas/subjects/cat.item.listed-value/versions",
            &json!({"schemaType": "JSON", "schema": schema}),
        );
        assert_eq!(status, 200, "{body}");
        body["id"].as_u64().unwrap()
    };
    register(r#"{"type":"object","properties":{"sku":{"type":"string"}}}"#);
    let second = register(
        r#"{"type":"object","properties":{"sku":{"type":"string"},"note":{"type":"string"}}}"#,
    );
    let resp = api
        .request(
            reqwest::Method::PUT,
            "/schemas/config/cat.item.listed-value",
        )
        .json(&json!({"compatibility": "FULL"}))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);

    let (_, _, body) = ui.get("/ui/topics/cat.item.listed");
    let card = &body[body.find(r#"id="schema""#).expect("schema card")..];
    let card = &card[..card.find("</section>").unwrap()];
    let value_row = format!(
        "<td class=\"mono\">cat.item.listed-value</td><td class=\"num\"><a href=\"/schemas/subjects/cat.item.listed-value/versions/latest\">2</a></td><td class=\"num\">{second}</td><td>JSON</td><td>1, 2</td><td>FULL</td>"
    );
    assert!(card.contains(&value_row), "{card}");
    // The key subject has no version and the registry-wide default level.
    assert!(
        card.contains("<td class=\"mono\">cat.item.listed-key</td><td class=\"muted\" colspan=\"4\">not registered</td><td>BACKWARD<span class=\"muted\"> (registry default)</span></td>"),
        "{card}"
    );
}

//! Group authorisation across tenants, on the real binary, with a restart (SIGKILL) between every
//! step: a group is bound to its topic from its first join or offset reset, durably, and every
//! group route is authorised against that binding, so a token with rights on other topics can
//! neither read, list, join, poll, commit, reset nor squat a group it has no right to.
mod common;

use common::{Api, Broker, assert_error, start_broker};
use serde_json::{Value, json};

const TOKENS: &str = r#"[
  {token = "admin-token-0001", name = "admin", rights = [{topics = "*", actions = ["admin", "produce", "consume"]}]},
  {token = "orders-consumer1", name = "orders", rights = [{topics = "orders.*", actions = ["consume"]}]},
  {token = "other-tenant-001", name = "other", rights = [{topics = "other.*", actions = ["admin", "produce", "consume"]}]}
]"#;

/// The three tenants, talking to the broker's current address (a restart moves its port).
struct Tenants {
    admin: Api,
    orders: Api,
    other: Api,
}

impl Tenants {
    fn of(broker: &Broker) -> Self {
        Tenants {
            admin: Api::with_token(&broker.url, "admin-token-0001"),
            orders: Api::with_token(&broker.url, "orders-consumer1"),
            other: Api::with_token(&broker.url, "other-tenant-001"),
        }
    }
}

fn start(dir: &std::path::Path) -> Broker {
    start_broker(dir, &[("WHARF_AUTH_TOKENS", TOKENS)])
}

/// SIGKILLs the broker and starts it again over the same data: nothing in memory survives.
fn restart(mut broker: Broker) -> (Broker, Tenants) {
    broker.restart();
    let tenants = Tenants::of(&broker);
    (broker, tenants)
}

fn join(api: &Api, group: &str, topic: &str) -> (u16, Value) {
    api.post(
        &format!("/v1/groups/{group}/members"),
        &json!({"topic": topic, "lease_ms": 60_000}),
    )
}

/// A join sent byte for byte over TCP, with the admin token and the path as given.
fn raw_join(url: &str, group: &str) -> (u16, Value) {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let body = r#"{"topic":"orders.a"}"#;
    write!(
        stream,
        "POST /v1/groups/{group}/members HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer admin-token-0001\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let json = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    (status, serde_json::from_str(json).unwrap_or(Value::Null))
}

fn listed(api: &Api) -> Vec<String> {
    let (status, body) = api.get("/v1/groups");
    assert_eq!(status, 200, "{body}");
    body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["group"].as_str().unwrap().to_owned())
        .collect()
}

/// One request a tenant sends, answering (status, JSON body).
type Attack = Box<dyn Fn(&Api) -> (u16, Value)>;

/// Every group route the other tenant could try on `group`, with `member` a member id it learned
/// (or guessed) and `epoch` an epoch of partition 0. Each must be 403 and change nothing.
fn attacks(group: &str, member: &str, epoch: u64) -> Vec<(&'static str, Attack)> {
    let g = group.to_owned();
    let m = member.to_owned();
    let path = move |tail: &str| format!("/v1/groups/{g}{tail}");
    let p = path.clone();
    let describe = move |api: &Api| api.get(&p(""));
    let p = path.clone();
    let join_own_topic = move |api: &Api| {
        api.post(
            &p("/members"),
            &json!({"topic": "other.b", "lease_ms": 60_000}),
        )
    };
    let p = path.clone();
    let join_its_topic = move |api: &Api| {
        api.post(
            &p("/members"),
            &json!({"topic": "orders.a", "lease_ms": 60_000}),
        )
    };
    let (p, mm) = (path.clone(), m.clone());
    let poll = move |api: &Api| api.post(&p(&format!("/members/{mm}/poll")), &json!({}));
    let (p, mm) = (path.clone(), m.clone());
    let heartbeat = move |api: &Api| api.post(&p(&format!("/members/{mm}/heartbeat")), &json!({}));
    let (p, mm) = (path.clone(), m.clone());
    let commit = move |api: &Api| {
        api.post(
            &p("/offsets"),
            &json!({"member_id": mm, "offsets": [{"topic": "orders.a", "partition": 0, "offset": 0, "epoch": epoch}]}),
        )
    };
    let p = path.clone();
    let reset_own_topic = move |api: &Api| {
        let rb = api
            .request(reqwest::Method::PUT, &p("/offsets"))
            .json(&json!({"topic": "other.b", "to": "earliest"}));
        Api::send(rb)
    };
    let p = path.clone();
    let reset_its_topic = move |api: &Api| {
        let rb = api
            .request(reqwest::Method::PUT, &p("/offsets"))
            .json(&json!({"topic": "orders.a", "to": "latest"}));
        Api::send(rb)
    };
    let (p, mm) = (path.clone(), m);
    let leave = move |api: &Api| api.delete(&p(&format!("/members/{mm}")));
    let p = path;
    let delete = move |api: &Api| api.delete(&p(""));
    vec![
        ("describe", Box::new(describe)),
        ("join naming its own topic", Box::new(join_own_topic)),
        ("join naming the group's topic", Box::new(join_its_topic)),
        ("poll", Box::new(poll)),
        ("heartbeat", Box::new(heartbeat)),
        ("commit", Box::new(commit)),
        ("reset to its own topic", Box::new(reset_own_topic)),
        ("reset of the group's topic", Box::new(reset_its_topic)),
        ("leave", Box::new(leave)),
        ("delete the group", Box::new(delete)),
    ]
}

fn committed_of(api: &Api, group: &str) -> Vec<Option<u64>> {
    let (status, body) = api.get(&format!("/v1/groups/{group}"));
    assert_eq!(status, 200, "{body}");
    body["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["committed_offset"].as_u64())
        .collect()
}

#[test]
fn a_group_stays_its_topics_tenants_own_across_restarts_and_resets() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path());
    let t = Tenants::of(&broker);
    t.admin.create_topic("orders.a", 2);
    t.admin.create_topic("other.b", 1);
    let (status, body) = t.admin.produce(
        "orders.a",
        json!([{"value": 1, "partition": 0}, {"value": 2, "partition": 0}]),
    );
    assert_eq!(status, 200, "{body}");

    // Group names follow the topic name rules: no `.` or `..`, however the path spells them
    // (sent as raw bytes: an HTTP client library would resolve the dots before sending).
    for name in ["..", "%2e%2e", "%2E", ".%2e"] {
        let (status, body) = raw_join(&broker.url, name);
        assert_error(status, &body, 400, "invalid_join");
    }

    // The orders consumer joins, reads and commits.
    let (status, member) = join(&t.orders, "orders-group", "orders.a");
    assert_eq!(status, 200, "{member}");
    let member_id = member["member_id"].as_str().unwrap().to_owned();
    let epoch = member["assignments"][0]["epoch"].as_u64().unwrap();
    let (status, body) = t.orders.post(
        "/v1/groups/orders-group/offsets",
        &json!({"member_id": member_id, "offsets": [{"topic": "orders.a", "partition": 0, "offset": 1, "epoch": epoch}]}),
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = t
        .orders
        .delete(&format!("/v1/groups/orders-group/members/{member_id}"));
    assert_eq!(status, 204, "{body}");

    // An admin prepares a second group with an offset reset: that binds it too.
    let rb = t
        .admin
        .request(reqwest::Method::PUT, "/v1/groups/prepared/offsets")
        .json(&json!({"topic": "orders.a", "to": "earliest"}));
    let (status, body) = Api::send(rb);
    assert_eq!(status, 200, "{body}");

    // After a restart (no lease survives), every attack on either group, each after another
    // restart, is 403 and changes nothing.
    let mut broker = broker;
    for group in ["orders-group", "prepared"] {
        for (what, attack) in attacks(group, &member_id, epoch) {
            let (b, t) = restart(broker);
            broker = b;
            let (status, body) = attack(&t.other);
            assert_error(status, &body, 403, "forbidden");
            assert!(
                !listed(&t.other).contains(&group.to_owned()),
                "{group} listed to the other tenant after: {what}"
            );
            assert_eq!(listed(&t.orders), ["orders-group", "prepared"]);
        }
    }

    // Nothing the attacks did moved the groups.
    let (broker, t) = restart(broker);
    assert_eq!(committed_of(&t.admin, "orders-group"), [Some(1), None]);
    assert_eq!(committed_of(&t.admin, "prepared"), [Some(0), Some(0)]);

    // The real consumer rejoins after the restarts and resumes from its commit.
    let (status, member) = join(&t.orders, "orders-group", "orders.a");
    assert_eq!(status, 200, "{member}");
    let member_id = member["member_id"].as_str().unwrap().to_owned();
    let (_, offsets) =
        t.orders
            .poll_offsets("orders-group", &member_id, &json!({"max_records": 10}));
    assert_eq!(offsets, [1]);

    // While it is live, a join naming another topic is refused and disturbs nobody: 403 for a
    // token without rights on the group's topic, 409 for one with rights on both.
    let (status, body) = join(&t.other, "orders-group", "other.b");
    assert_error(status, &body, 403, "forbidden");
    let (status, body) = join(&t.admin, "orders-group", "other.b");
    assert_error(status, &body, 409, "group_topic_mismatch");
    let (status, body) = t.orders.post(
        &format!("/v1/groups/orders-group/members/{member_id}/heartbeat"),
        &json!({}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["assignments"].as_array().unwrap().len(), 2);

    // The binding ends only when an admin deletes the group (refused while a member is live).
    let (status, body) = t.admin.delete("/v1/groups/orders-group");
    assert_error(status, &body, 409, "members_live");
    let (status, body) = t.orders.delete("/v1/groups/orders-group");
    assert_error(status, &body, 403, "forbidden");
    let (status, _) = t
        .orders
        .delete(&format!("/v1/groups/orders-group/members/{member_id}"));
    assert_eq!(status, 204);
    let (broker, t) = restart(broker);
    let (status, body) = t.admin.delete("/v1/groups/orders-group");
    assert_eq!(status, 204, "{body}");
    let (_broker, t) = restart(broker);
    let (status, body) = t.admin.get("/v1/groups/orders-group");
    assert_error(status, &body, 404, "unknown_group");
    let (status, body) = join(&t.other, "orders-group", "other.b");
    assert_eq!(status, 200, "the name is free once deleted: {body}");
    assert_eq!(listed(&t.other), ["orders-group"]);
    assert_eq!(listed(&t.orders), ["prepared"]);
}

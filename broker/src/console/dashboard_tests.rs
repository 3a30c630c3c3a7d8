//! `infra/grafana/wharf.json` names only metrics the broker exports: every `wharf_*` series in
//! every query is checked against the families `broker/src/metrics.rs` registers (under the
//! registry's `wharf` prefix; `/metrics` serves exactly those).

const DASHBOARD: &str = include_str!("../../../infra/grafana/wharf.json");
const METRICS_SOURCE: &str = include_str!("../metrics.rs");

/// The families registered in `metrics.rs`, with the registry prefix.
fn registered() -> Vec<String> {
    METRICS_SOURCE
        .split("registry.register(")
        .skip(1)
        .filter_map(|rest| {
            let rest = rest.trim_start().strip_prefix('"')?;
            Some(format!("wharf_{}", &rest[..rest.find('"')?]))
        })
        .collect()
}

/// The `wharf_*` names a PromQL expression mentions.
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("wharf_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    out
}

#[test]
fn every_grafana_query_names_a_metric_the_broker_exports() {
    let families = registered();
    assert!(families.len() >= 10, "{families:?}");
    assert!(
        families.contains(&"wharf_fsync_seconds".to_owned()),
        "{families:?}"
    );
    let dashboard: serde_json::Value = serde_json::from_str(DASHBOARD).unwrap();
    let mut checked = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let names = metric_names(expr);
            assert!(!names.is_empty(), "query without a wharf metric: {expr}");
            for name in names {
                let family = ["_bucket", "_sum", "_count", "_total"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .unwrap_or(&name);
                assert!(
                    families.iter().any(|f| f == family),
                    "{name} (in {expr:?}) is not exported; the broker registers {families:?}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 10, "only {checked} metric references");
    assert_eq!(
        metric_names("rate(wharf_a_total[1m]) / wharf_b"),
        ["wharf_a_total", "wharf_b"]
    );
}

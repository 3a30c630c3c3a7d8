//! The overview's rate history: every [`PERIOD`] the broker's own Prometheus text (the same one
//! `/metrics` serves) is summed into totals and kept in a ring of at most [`CAPACITY`] samples
//! (15 minutes), so the charts cost a fixed amount of memory whatever the traffic. Rates and the
//! fsync p99 are the differences between consecutive samples.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::state::{Broker, now_ms};

/// How often a sample is taken.
pub const PERIOD: Duration = Duration::from_secs(5);
/// Samples kept: 15 minutes' worth.
pub const CAPACITY: usize = 180;

/// Counter totals at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    pub records_produced: f64,
    pub bytes_produced: f64,
    pub records_fetched: f64,
    pub bytes_fetched: f64,
    /// Cumulative fsync histogram buckets `(le seconds, count)`, `+Inf` last.
    pub fsync_buckets: Vec<(f64, f64)>,
    /// Records produced per topic.
    pub topics: BTreeMap<String, f64>,
}

/// One sample: when, and the totals then.
#[derive(Debug, Clone)]
struct Sample {
    at_ms: i64,
    totals: Totals,
}

/// One point per interval between samples: `(end of interval ms, value)`.
pub type Series = Vec<(i64, f64)>;

/// The rates the overview charts.
#[derive(Debug, Default)]
pub struct Rates {
    pub produce_records: Series,
    pub produce_bytes: Series,
    pub fetch_records: Series,
    pub fetch_bytes: Series,
    /// Seconds; an interval without fsyncs has no point.
    pub fsync_p99: Series,
}

/// The bounded sample ring.
#[derive(Debug, Default)]
pub struct Sampler {
    samples: Mutex<VecDeque<Sample>>,
}

/// The value of a Prometheus text line `name{labels} value`, if it is a line of `name`.
fn value_of(line: &str, name: &str) -> Option<f64> {
    let rest = line.strip_prefix(name)?;
    let rest = match rest.as_bytes().first() {
        Some(b'{') => &rest[rest.find('}')? + 1..],
        Some(b' ') => rest,
        _ => return None,
    };
    rest.split_whitespace().next()?.parse().ok()
}

/// Sums the counters the overview shows, and reads the fsync buckets, from Prometheus text.
pub fn parse_totals(text: &str) -> Totals {
    let mut t = Totals::default();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        for (name, slot) in [
            ("wharf_records_produced_total", &mut t.records_produced),
            ("wharf_bytes_produced_total", &mut t.bytes_produced),
            ("wharf_records_fetched_total", &mut t.records_fetched),
            ("wharf_bytes_fetched_total", &mut t.bytes_fetched),
        ] {
            if let Some(v) = value_of(line, name) {
                *slot += v;
            }
        }
        if let Some(rest) = line.strip_prefix("wharf_records_produced_total{topic=\"")
            && let Some((topic, _)) = rest.split_once('"')
            && let Some(v) = value_of(line, "wharf_records_produced_total")
        {
            t.topics.insert(topic.to_owned(), v);
        }
        if let Some(rest) = line.strip_prefix("wharf_fsync_seconds_bucket{le=\"")
            && let Some((le, tail)) = rest.split_once('"')
            && let Some(count) = tail
                .trim_start_matches('}')
                .split_whitespace()
                .next()
                .and_then(|v| v.parse().ok())
        {
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap_or(f64::INFINITY)
            };
            t.fsync_buckets.push((le, count));
        }
    }
    t
}

/// The 99th percentile of the observations between two cumulative histograms (the upper bound
/// of the bucket it falls in), or `None` without observations.
fn p99_between(before: &[(f64, f64)], after: &[(f64, f64)]) -> Option<f64> {
    let deltas: Vec<(f64, f64)> = after
        .iter()
        .map(|&(le, n)| {
            let was = before.iter().find(|(l, _)| *l == le).map_or(0.0, |x| x.1);
            (le, n - was)
        })
        .collect();
    let total = deltas.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = total * 0.99;
    let &(le, _) = deltas.iter().find(|(_, n)| *n >= rank)?;
    if le.is_finite() {
        Some(le)
    } else {
        // Beyond the last bound: that bound is the best (lower) estimate there is.
        deltas
            .iter()
            .rev()
            .find(|(l, _)| l.is_finite())
            .map(|x| x.0)
    }
}

impl Sampler {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a sample, dropping the oldest beyond [`CAPACITY`].
    pub fn push(&self, at_ms: i64, totals: Totals) {
        let mut samples = self.samples.lock().expect("sampler lock");
        samples.push_back(Sample { at_ms, totals });
        while samples.len() > CAPACITY {
            samples.pop_front();
        }
        debug_assert!(samples.len() <= CAPACITY);
    }

    /// How many samples are held.
    pub fn len(&self) -> usize {
        self.samples.lock().expect("sampler lock").len()
    }

    /// Whether no sample was taken yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records produced per second per topic over the last interval, busiest first.
    pub fn topic_rates(&self) -> Vec<(String, f64)> {
        let samples = self.samples.lock().expect("sampler lock");
        let n = samples.len();
        if n < 2 {
            return Vec::new();
        }
        let (a, b) = (&samples[n - 2], &samples[n - 1]);
        let secs = ((b.at_ms - a.at_ms) as f64 / 1000.0).max(0.001);
        let mut out: Vec<(String, f64)> = b
            .totals
            .topics
            .iter()
            .map(|(t, v)| {
                let was = a.totals.topics.get(t).copied().unwrap_or(0.0);
                (t.clone(), ((v - was) / secs).max(0.0))
            })
            .collect();
        out.sort_by(|x, y| y.1.total_cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
        out
    }

    /// Per-second rates and fsync p99 between consecutive samples.
    pub fn rates(&self) -> Rates {
        let samples = self.samples.lock().expect("sampler lock");
        let mut r = Rates::default();
        for (a, b) in samples.iter().zip(samples.iter().skip(1)) {
            let secs = (b.at_ms - a.at_ms) as f64 / 1000.0;
            if secs <= 0.0 {
                continue;
            }
            // A counter only grows; a drop would be a restart, shown as zero rather than negative.
            let rate = |x: f64, y: f64| ((y - x) / secs).max(0.0);
            let (x, y) = (&a.totals, &b.totals);
            r.produce_records
                .push((b.at_ms, rate(x.records_produced, y.records_produced)));
            r.produce_bytes
                .push((b.at_ms, rate(x.bytes_produced, y.bytes_produced)));
            r.fetch_records
                .push((b.at_ms, rate(x.records_fetched, y.records_fetched)));
            r.fetch_bytes
                .push((b.at_ms, rate(x.bytes_fetched, y.bytes_fetched)));
            if let Some(p99) = p99_between(&x.fsync_buckets, &y.fsync_buckets) {
                r.fsync_p99.push((b.at_ms, p99));
            }
        }
        r
    }
}

/// Takes one sample of `broker` now.
pub fn sample(sampler: &Sampler, broker: &Broker) {
    let text = broker.metrics.render(&broker.topics);
    sampler.push(now_ms(), parse_totals(&text));
}

/// Samples every [`PERIOD`] until the broker stops.
pub fn spawn(sampler: Arc<Sampler>, broker: Arc<Broker>) {
    let mut stopping = broker.stopping.clone();
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(PERIOD);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => sample(&sampler, &broker),
                () = crate::partition::until_true(&mut stopping) => return,
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# TYPE wharf_records_produced counter\n\
        wharf_records_produced_total{topic=\"a\"} 10\n\
        wharf_records_produced_total{topic=\"b\"} 5\n\
        wharf_bytes_produced_total{topic=\"a\"} 1000\n\
        wharf_records_fetched_total{topic=\"a\"} 3\n\
        wharf_fsync_seconds_bucket{le=\"0.001\"} 98\n\
        wharf_fsync_seconds_bucket{le=\"0.002\"} 99\n\
        wharf_fsync_seconds_bucket{le=\"+Inf\"} 100\n";

    #[test]
    fn totals_sum_every_topic_and_read_the_fsync_buckets() {
        let t = parse_totals(TEXT);
        assert_eq!(t.records_produced, 15.0);
        assert_eq!(t.bytes_produced, 1000.0);
        assert_eq!(t.records_fetched, 3.0);
        assert_eq!(t.bytes_fetched, 0.0);
        assert_eq!(t.fsync_buckets.len(), 3);
        assert_eq!(t.topics.get("b"), Some(&5.0));
        assert!(t.fsync_buckets[2].0.is_infinite());
    }

    #[test]
    fn rates_are_differences_per_second_and_the_ring_is_bounded() {
        let s = Sampler::new();
        let mut t = parse_totals(TEXT);
        s.push(0, t.clone());
        t.records_produced += 50.0;
        t.topics.insert("b".into(), 55.0);
        for b in &mut t.fsync_buckets {
            b.1 += 100.0;
        }
        s.push(5000, t.clone());
        let r = s.rates();
        assert_eq!(r.produce_records, vec![(5000, 10.0)]);
        assert_eq!(r.fetch_records, vec![(5000, 0.0)]);
        assert_eq!(r.fsync_p99, vec![(5000, 0.001)]);
        assert_eq!(
            s.topic_rates(),
            vec![("b".to_owned(), 10.0), ("a".to_owned(), 0.0)]
        );
        for i in 0..(CAPACITY as i64 + 20) {
            s.push(10_000 + i, t.clone());
        }
        assert_eq!(s.len(), CAPACITY);
    }
}

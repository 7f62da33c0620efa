//! The Prometheus text exposition format (version 0.0.4) of
//! [`crate::analysis::metrics::Metrics`]: what `--metrics ADDR` serves at
//! `/metrics` ([`serve`]) and `kwire stats --format prometheus` writes (for
//! node_exporter's textfile collector). The metric names and labels are
//! listed in `docs/metrics.md`.
//!
//! Contract:
//! * Every family has its `# HELP` and `# TYPE` lines, once, and its
//!   samples follow them together; families come in a fixed order and
//!   samples sorted by their labels, so two expositions of the same
//!   metrics are the same bytes.
//! * Names follow Prometheus' conventions: `kwire_` prefix, base units
//!   (seconds, bytes), counters end in `_total`. Histograms have cumulative
//!   `_bucket{le}` samples ending in `le="+Inf"`, then `_sum` and `_count`.
//! * Label values are escaped as the format says (`\\`, `\"`, `\n`); a
//!   client id is wire data and may hold anything. A client id that is
//!   absent or empty is the empty label value.

pub mod serve;

use std::fmt::{Display, Write as _};

use crate::analysis::metrics::{self, Counters, Metrics};
use crate::session::Limit;

/// The `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Append `v` to `out`, escaped as a label value.
fn escape_label(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Writes families and their samples.
struct Writer<'a> {
    out: &'a mut String,
}

impl Writer<'_> {
    /// Start a family: its `# HELP` and `# TYPE` lines (help is ours: no
    /// backslash nor newline to escape).
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        debug_assert!(!help.contains(['\\', '\n']));
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(k);
                self.out.push_str("=\"");
                escape_label(self.out, v);
                self.out.push('"');
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }

    /// A counter family over the request series, one field of them.
    fn per_series(&mut self, m: &Metrics, name: &str, help: &str, f: fn(&Counters) -> u64) {
        self.family(name, "counter", help);
        for ((api, client, broker), c) in m.series() {
            self.sample(
                name,
                &[
                    ("api", api.name()),
                    ("client_id", client.as_str()),
                    ("broker", broker.as_str()),
                ],
                f(c),
            );
        }
    }
}

/// Seconds from microseconds, as the exposition writes them (`0.000032`).
fn seconds(us: u64) -> f64 {
    us as f64 / 1e6
}

/// The exposition of `m`.
pub fn to_text(m: &Metrics) -> String {
    let mut out = String::with_capacity(16 * 1024);
    write(m, &mut out);
    out
}

/// Append the exposition of `m` to `out`.
pub fn write(m: &Metrics, out: &mut String) {
    let mut w = Writer { out };

    // Exchanges, per API, client id and broker.
    w.per_series(
        m,
        "kwire_requests_total",
        "Kafka requests captured (every request whose header was captured, answered or not).",
        |c| c.requests,
    );
    w.per_series(
        m,
        "kwire_errors_total",
        "Requests answered with a non-zero error code, negotiations aside (a negotiation the client never completed counts when its connection closes).",
        |c| c.errors,
    );
    w.per_series(
        m,
        "kwire_negotiations_total",
        "Requests answered with a negotiation's expected answer (ApiVersions UNSUPPORTED_VERSION, JoinGroup v4+ MEMBER_ID_REQUIRED).",
        |c| c.negotiations,
    );
    w.per_series(
        m,
        "kwire_malformed_responses_total",
        "Responses whose body does not decode as the version asked for, although captured whole.",
        |c| c.malformed,
    );
    w.per_series(
        m,
        "kwire_unanswered_requests_total",
        "Requests given up on without a response (connection closed, reset or idle, capture ended, limits).",
        |c| c.unanswered,
    );
    w.per_series(
        m,
        "kwire_request_bytes_total",
        "Bytes of requests (size prefix included).",
        |c| c.request_bytes,
    );
    w.per_series(
        m,
        "kwire_response_bytes_total",
        "Bytes of responses (size prefix included).",
        |c| c.response_bytes,
    );

    // Error codes, per API, broker and code.
    let name = "kwire_error_responses_total";
    w.family(
        name,
        "counter",
        "Responses carrying an error code, by code name (each response once per code it carries, at any level).",
    );
    for ((api, broker, code), n) in m.errors() {
        w.sample(
            name,
            &[
                ("api", api.name()),
                ("broker", broker.as_str()),
                ("error", metrics::code_name(*code)),
            ],
            n,
        );
    }

    // Latencies, per API and broker.
    let name = "kwire_request_latency_seconds";
    w.family(
        name,
        "histogram",
        "Time from a request to its response, as captured; bucket bounds are edges of kwire's latency histogram.",
    );
    let (bucket, sum, count) = (
        "kwire_request_latency_seconds_bucket",
        "kwire_request_latency_seconds_sum",
        "kwire_request_latency_seconds_count",
    );
    let mut le = String::new();
    for ((api, broker), l) in m.latencies() {
        let labels = [("api", api.name()), ("broker", broker.as_str())];
        for (us, n) in l.cumulative() {
            le.clear();
            let _ = write!(le, "{}", seconds(us as u64));
            w.sample(bucket, &[labels[0], labels[1], ("le", &le)], n);
        }
        w.sample(bucket, &[labels[0], labels[1], ("le", "+Inf")], l.count);
        w.sample(sum, &labels, seconds(l.sum_us));
        w.sample(count, &labels, l.count);
    }

    // Connections.
    let h = m.health();
    w.family(
        "kwire_kafka_connections_open",
        "gauge",
        "Kafka connections open now (recognised and not yet closed).",
    );
    w.sample("kwire_kafka_connections_open", &[], m.open_connections());
    w.family(
        "kwire_kafka_connections_total",
        "counter",
        "Kafka connections recognised.",
    );
    w.sample("kwire_kafka_connections_total", &[], h.kafka_connections);
    w.family(
        "kwire_tcp_connections_total",
        "counter",
        "TCP connections seen, Kafka or not.",
    );
    w.sample("kwire_tcp_connections_total", &[], h.connections);

    // The capture's health.
    w.family(
        "kwire_packets_total",
        "counter",
        "Packets read by the analysis.",
    );
    w.sample("kwire_packets_total", &[], h.packets);
    w.family(
        "kwire_packet_bytes_total",
        "counter",
        "Bytes of the packets read, as long as they were on the wire.",
    );
    w.sample("kwire_packet_bytes_total", &[], h.bytes);
    w.family(
        "kwire_truncated_packets_total",
        "counter",
        "Packets whose payload the snaplen cut.",
    );
    w.sample("kwire_truncated_packets_total", &[], h.truncated_packets);
    if let Some(d) = h.drops {
        w.family(
            "kwire_capture_received_packets_total",
            "counter",
            "Packets the live capture's filter accepted, dropped ones included (on lo the kernel counts each packet twice).",
        );
        w.sample("kwire_capture_received_packets_total", &[], d.received);
        w.family(
            "kwire_packets_dropped_total",
            "counter",
            "Packets a live capture lost: by the kernel (its buffer full: --buffer-size), the interface, or kwire's packet queue (the analysis behind: --queue-bytes, --queue-packets).",
        );
        for (by, n) in [
            ("interface", d.if_dropped),
            ("kernel", d.dropped),
            ("queue", d.queue_dropped),
        ] {
            w.sample("kwire_packets_dropped_total", &[("by", by)], n);
        }
    }
    w.family(
        "kwire_stream_gaps_total",
        "counter",
        "Gaps in Kafka connections' byte streams (bytes the capture lost).",
    );
    w.sample(
        "kwire_stream_gaps_total",
        &[],
        h.events.get("gap").copied().unwrap_or(0),
    );
    w.family(
        "kwire_stream_gap_bytes_total",
        "counter",
        "Bytes of Kafka connections the capture lost.",
    );
    w.sample("kwire_stream_gap_bytes_total", &[], m.gap_bytes());
    w.family(
        "kwire_orphan_responses_total",
        "counter",
        "Responses whose request was not captured.",
    );
    w.sample("kwire_orphan_responses_total", &[], h.orphans);
    w.family(
        "kwire_limit_hits_total",
        "counter",
        "Times each of kwire's limits was hit (what it gave up is said by kwire diagnose).",
    );
    let mut limits: Vec<&str> = Limit::ALL.iter().map(|l| l.as_str()).collect();
    limits.sort_unstable();
    for l in limits {
        let n = h.limits.get(l).copied().unwrap_or(0);
        w.sample("kwire_limit_hits_total", &[("limit", l)], n);
    }
    w.family(
        "kwire_events_total",
        "counter",
        "Events by type (as kwire export names them), those past their kind's cap included.",
    );
    for (t, n) in &h.events {
        w.sample("kwire_events_total", &[("type", t)], n);
    }
    w.family(
        "kwire_memory_peak_bytes",
        "gauge",
        "Most bytes the analysis held at once (out-of-order bytes, messages in progress, requests in flight).",
    );
    w.sample("kwire_memory_peak_bytes", &[], h.memory_peak_bytes);
    w.family(
        "kwire_memory_limit_bytes",
        "gauge",
        "The analysis' memory budget (--max-memory).",
    );
    w.sample("kwire_memory_limit_bytes", &[], h.memory_max_bytes);

    // Findings.
    w.family(
        "kwire_findings",
        "gauge",
        "Findings stated so far (kwire diagnose), by code and severity; live, stated again at most every 5 s when scraped.",
    );
    for ((code, severity), n) in m.findings() {
        w.sample(
            "kwire_findings",
            &[("code", code), ("severity", severity.as_str())],
            n,
        );
    }

    // The metrics' own limits.
    w.family(
        "kwire_metrics_overflow_total",
        "counter",
        "Observations whose label a limit folded into the value \"other\", by the limit's label or table.",
    );
    for what in [
        "broker",
        "client_id",
        "error_series",
        "latency_series",
        "series",
    ] {
        let n = m.overflow().get(what).copied().unwrap_or(0);
        w.sample("kwire_metrics_overflow_total", &[("label", what)], n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut s = String::new();
        escape_label(&mut s, "a\\b\"c\nd é\t");
        assert_eq!(s, "a\\\\b\\\"c\\nd é\t");
    }

    #[test]
    fn an_empty_model_is_every_family_with_help_and_type() {
        let text = to_text(&Metrics::new());
        let mut families = Vec::new();
        for l in text.lines() {
            if let Some(rest) = l.strip_prefix("# TYPE ") {
                families.push(rest.split(' ').next().unwrap().to_string());
            } else if !l.starts_with("# HELP ") {
                let name = l.split(['{', ' ']).next().unwrap();
                let fam = families.last().expect("a sample before any TYPE");
                assert!(name.starts_with(fam.as_str()), "{name} outside {fam}");
            }
        }
        let mut sorted = families.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), families.len(), "a family written twice");
        for f in &families {
            assert!(f.starts_with("kwire_"));
        }
        assert!(text.contains("kwire_limit_hits_total{limit=\"max_flows\"} 0\n"));
        // No drop counters for a file.
        assert!(!text.contains("kwire_packets_dropped_total"));
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_end_in_inf() {
        use crate::capture::Timestamp;
        use crate::kafka::ApiKey;
        use crate::session::{Exchange, MessageInfo, Status};
        let msg = |us: u32| MessageInfo {
            frame: 1,
            first_frame: 1,
            ts: Timestamp::new(10, us * 1000),
            size: 10,
            lost_bytes: 0,
        };
        let mut m = Metrics::new();
        for us in [100, 1000, 1000, 900_000] {
            m.observe_exchange(&Exchange {
                stream: 0,
                client: "[::1]:4000".parse().unwrap(),
                broker: "[::1]:9092".parse().unwrap(),
                api_key: ApiKey::FETCH,
                api_version: 12,
                correlation_id: 1,
                client_id: Some("weird \"id\"\n".into()),
                request: msg(0),
                response: Some(msg(us)),
                status: Status::Ok,
                errors: Vec::new(),
                request_body: None,
                response_body: None,
                capture: 0,
                broker_side: None,
            });
        }
        let text = to_text(&m);
        assert!(text.contains(
            "kwire_requests_total{api=\"Fetch\",client_id=\"weird \\\"id\\\"\\n\",broker=\"[::1]:9092\"} 4\n"
        ));
        let buckets: Vec<(&str, u64)> = text
            .lines()
            .filter(|l| l.starts_with("kwire_request_latency_seconds_bucket"))
            .map(|l| {
                let le = l.split("le=\"").nth(1).unwrap().split('"').next().unwrap();
                (le, l.rsplit(' ').next().unwrap().parse().unwrap())
            })
            .collect();
        assert_eq!(buckets.len(), metrics::LE_BOUNDS + 1);
        assert_eq!(buckets[0], ("0.000032", 0));
        assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1));
        assert_eq!(buckets.last().unwrap(), &("+Inf", 4));
        let at = |le: &str| buckets.iter().find(|b| b.0 == le).unwrap().1;
        assert_eq!(at("0.000128"), 1);
        assert_eq!(at("0.001024"), 3);
        assert_eq!(at("1.048576"), 4);
        assert!(text.contains(
            "kwire_request_latency_seconds_sum{api=\"Fetch\",broker=\"[::1]:9092\"} 0.9021\n"
        ));
        assert!(text.contains(
            "kwire_request_latency_seconds_count{api=\"Fetch\",broker=\"[::1]:9092\"} 4\n"
        ));
    }
}

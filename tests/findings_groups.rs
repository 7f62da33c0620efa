//! Findings of metadata churn (`src/analysis/findings/metadata.rs`) and
//! consumer-group trouble (`src/analysis/findings/groups.rs`) on real
//! captures: the corpus (errors_mtu1500's injected errors, the healthy
//! captures' normal membership changes) and `samples/findings/`, recorded
//! for these findings with `scripts/record_findings_groups.py`. Frames and
//! counts checked with `kwire list` and tshark.

mod common;

use common::*;
use kwire::analysis::findings::{About, Diagnoser, Finding, Severity};
use kwire::session::Record;

fn diagnose(path: &std::path::Path) -> Vec<Finding> {
    let (records, _) = analyze(path, &[]);
    let mut d = Diagnoser::new();
    for r in &records {
        match r {
            Record::Exchange(e) => d.observe_exchange(e),
            Record::Event(ev) => d.observe_event(ev),
            _ => {}
        }
    }
    d.findings()
}

/// The codes these detectors raise (the Diagnoser runs every family).
const CODES: &[&str] = &[
    "not_leader",
    "leader_not_available",
    "unknown_topic",
    "stale_leader_epoch",
    "authorization_failed",
    "rebalance_storm",
    "membership_change",
    "rebalance_unexplained",
    "member_timed_out",
    "member_dropped",
    "commit_rejected",
    "member_fenced",
    "coordinator_unavailable",
    "coordinator_moved",
    "group_error",
    "leave_refused",
];

fn ours(path: &std::path::Path) -> Vec<Finding> {
    diagnose(path)
        .into_iter()
        .filter(|f| CODES.contains(&f.code))
        .collect()
}

fn corpus(name: &str) -> Vec<Finding> {
    ours(&corpus_dir().join(format!("{name}.pcap")))
}

fn sample(name: &str) -> Vec<Finding> {
    ours(&samples_dir().join("findings").join(format!("{name}.pcap")))
}

/// (code, severity, count, frames) of each finding, in the Diagnoser's order.
fn summary(fs: &[Finding]) -> Vec<(&'static str, Severity, u64, Vec<u64>)> {
    fs.iter()
        .map(|f| (f.code, f.severity, f.count, f.frames.clone()))
        .collect()
}

fn find<'a>(fs: &'a [Finding], code: &str) -> &'a Finding {
    fs.iter()
        .find(|f| f.code == code)
        .unwrap_or_else(|| panic!("no {code} finding in {fs:#?}"))
}

use Severity::{Error, Info, Warning};

#[test]
fn errors_mtu1500_each_injected_family() {
    let fs = corpus("errors_mtu1500");
    assert_eq!(
        summary(&fs),
        [
            // FindCoordinator COORDINATOR_NOT_AVAILABLE in frames 70 and 93,
            // JoinGroup NOT_COORDINATOR in 114; the JoinGroup of frame 120
            // was the first answer.
            (
                "coordinator_unavailable",
                Warning,
                3,
                vec![70, 93, 114, 120]
            ),
            // Metadata LEADER_NOT_AVAILABLE (top-level, v13) in 10 and 13,
            // for the topic requested.
            ("leader_not_available", Warning, 2, vec![10, 13]),
            // Produce NOT_LEADER_OR_FOLLOWER for payments[1] and [2].
            ("not_leader", Warning, 2, vec![38, 40]),
            // Heartbeat REBALANCE_IN_PROGRESS (129, 141) and OffsetCommit
            // ILLEGAL_GENERATION (172), one member throughout: generations
            // 2 → 3 (first seen in frame 135) and 3 → 5 (270); the
            // rejected commit is part of 3 → 5, told in it.
            (
                "rebalance_unexplained",
                Warning,
                2,
                vec![129, 135, 141, 172, 270]
            ),
        ]
    );
    assert_eq!(
        find(&fs, "coordinator_unavailable").title,
        "group ledger could not reach its coordinator: FindCoordinator COORDINATOR_NOT_AVAILABLE ×2, \
         JoinGroup NOT_COORDINATOR; JoinGroup answered 5.0 s after the first error (frame 120)"
    );
    let lna = find(&fs, "leader_not_available");
    assert_eq!(lna.topics, ["payments"]);
    assert!(
        lna.title.contains("recovered within 130 ms"),
        "{}",
        lna.title
    );
    assert!(
        lna.details
            .iter()
            .any(|d| d == "succeeded again in frames 16")
    );
    let nl = find(&fs, "not_leader");
    assert_eq!(
        nl.title,
        "Produce for topic payments[1,2] answered NOT_LEADER_OR_FOLLOWER twice (pay-producer); \
         the client refreshed metadata and recovered within 46 ms"
    );
    assert!(
        nl.details
            .iter()
            .any(|d| d == "succeeded again in frames 53, 58")
    );
    assert_eq!(nl.streams, [1]);
    let un = find(&fs, "rebalance_unexplained");
    assert!(
        un.title
            .contains("Heartbeat REBALANCE_IN_PROGRESS ×2, OffsetCommit ILLEGAL_GENERATION"),
        "{}",
        un.title
    );
    assert_eq!(
        un.details.last().unwrap(),
        "the same rebalance: OffsetCommit from ledger-1 in group ledger rejected with \
         ILLEGAL_GENERATION (generation 3, group now at 5); the offsets were not stored: the member \
         must rejoin, and records since its previous commit may be consumed twice"
    );
}

#[test]
fn confluent_basic_billing_is_normal_membership_change() {
    for name in ["confluent_basic", "confluent_basic_mtu1500"] {
        let fs = corpus(name);
        assert!(fs.iter().all(|f| f.severity == Info), "{name}: {fs:#?}");
    }
    let fs = corpus("confluent_basic");
    let m = find(&fs, "membership_change");
    assert_eq!(
        m.title,
        "group billing rebalanced twice in 8.0 s: billing-2 joined (generation 3) and left \
         (generation 4); normal membership changes"
    );
    assert_eq!(m.count, 2);
    // billing-2's JoinGroup, generation 3, its LeaveGroup, generation 4;
    // billing-1's commits answered REBALANCE_IN_PROGRESS during both
    // rebalances (519, 791), told in the same story.
    assert_eq!(m.frames, [513, 519, 529, 771, 791, 803]);
    assert_eq!(m.clients, ["billing-2", "billing-1"]);
    assert_eq!(fs.len(), 1, "{fs:#?}");
    assert!(m.details.last().unwrap().starts_with(
        "the same rebalance: OffsetCommit from billing-1 in group billing rejected with \
             REBALANCE_IN_PROGRESS twice"
    ));
}

#[test]
fn healthy_corpus_raises_no_warning() {
    for name in [
        "confluent_basic",
        "confluent_basic_mtu1500",
        "kip848",
        "transactions",
        "kafka_python",
        "kafka_python_legacy",
        "kcat",
        "bulk_mtu1500",
    ] {
        let fs = corpus(name);
        let loud: Vec<_> = fs.iter().filter(|f| f.severity > Info).collect();
        assert!(loud.is_empty(), "{name}: {loud:#?}");
    }
}

#[test]
fn kip848_dispatch_joins_and_leaves() {
    let fs = corpus("kip848");
    assert_eq!(
        summary(&fs),
        [("membership_change", Info, 2, vec![154, 212, 308, 326])]
    );
    assert_eq!(
        fs[0].title,
        "group dispatch rebalanced twice in 6.0 s: dispatch-2 joined (epoch 3) and left (epoch 4); \
         normal membership changes"
    );
}

#[test]
fn kafka_python_legacy_unknown_member_after_own_leave() {
    // kafka-python rejoins right after its first SyncGroup (generation 3,
    // same member, no error before: its own decision), then closes: its
    // LeaveGroup (frame 66) goes out while the JoinGroup is held, and the
    // SyncGroup of generation 3 that follows is answered UNKNOWN_MEMBER_ID
    // (frame 75). The client's own shutdown race: information.
    let fs = corpus("kafka_python_legacy");
    assert_eq!(
        summary(&fs),
        [
            ("membership_change", Info, 1, vec![68]),
            ("member_fenced", Info, 1, vec![66, 75]),
        ]
    );
    assert!(
        fs[0]
            .title
            .contains("legacy-consumer rejoined on its own (generation 3")
    );
}

#[test]
fn killed_member_times_out() {
    // worker-2 SIGKILLed: its last Heartbeat is frame 380; the coordinator
    // answers worker-1's Heartbeat REBALANCE_IN_PROGRESS 6.5 s later (509,
    // session.timeout.ms 6000) and generation 4 forms without it (524).
    // One story of the group: worker-2 joined (JoinGroup 202, generation 3
    // in 216, worker-1's commit refused meanwhile, 208), then timed out.
    let fs = sample("groups_killed_member");
    assert_eq!(
        summary(&fs),
        [(
            "member_timed_out",
            Warning,
            1,
            vec![202, 208, 216, 380, 524]
        )]
    );
    assert_eq!(
        fs[0].details,
        [
            "also: group workers rebalanced once: worker-2 joined (generation 3); normal \
             membership changes",
            "the same rebalance: OffsetCommit from worker-1 in group workers rejected with \
             REBALANCE_IN_PROGRESS (generation 2, group now at 4) during membership changes, as \
             expected; offsets consumed since the previous commit may be read again",
        ]
    );
    assert_eq!(
        fs[0].title,
        "member worker-2 of group workers stopped heartbeating without leaving; the coordinator \
         removed it after 6.5 s of silence and the group moved to generation 4 without it: its \
         session timed out (sessionTimeoutMs 6000): it crashed, hung or lost its network"
    );
}

/// kafkajs 2.2.4 (`scripts/record_findings_kafkajs.py`): g-1 consumes
/// alone (generation 2); g-2's JoinGroup (frame 145) makes generation 3
/// (JoinGroup response, frame 161; g-1 told by Heartbeat
/// REBALANCE_IN_PROGRESS, 149); g-2 leaves with LeaveGroup v3 (278), which
/// the mock answers UNKNOWN_MEMBER_ID, so the coordinator removes it only
/// when its session (6000 ms) expires: g-1 told at 331, generation 4 in 340,
/// 10.0 s after the leave; g-1's own LeaveGroup (347) is refused the same
/// way. Once said as a rebalance with no member joining or leaving, and
/// g-2 as dropped without leaving: one story now.
#[test]
fn kafkajs_join_and_refused_leave_are_one_story() {
    let fs = sample("kafkajs_group");
    assert_eq!(
        summary(&fs),
        [(
            "membership_change",
            Warning,
            2,
            vec![145, 161, 278, 340, 347]
        )]
    );
    let f = &fs[0];
    assert_eq!(
        f.title,
        "group g rebalanced twice in 21.0 s: g-2 joined (generation 3) and left (generation 4, \
         10.0 s after its LeaveGroup of frame 278 was answered UNKNOWN_MEMBER_ID); membership \
         changes, a leave among them refused: the group waited for the coordinator to remove the \
         member"
    );
    assert_eq!(
        f.details,
        [
            "g-2's LeaveGroup (frame 278) was answered UNKNOWN_MEMBER_ID: the coordinator did not \
             take it as a leave and removed the member 10.0 s later, when its session timed out \
             (sessionTimeoutMs 6000); its partitions were not consumed meanwhile",
            "generation 2 → 3: Heartbeat REBALANCE_IN_PROGRESS (frame 149): the coordinator's \
             ordinary rejoin signal",
            "generation 3 → 4: Heartbeat REBALANCE_IN_PROGRESS (frame 331): the coordinator's \
             ordinary rejoin signal",
            "also: the coordinator of group g refused the leave of g-1 (LeaveGroup \
             UNKNOWN_MEMBER_ID, frame 347): the member went, but the coordinator removes it only \
             when its session times out; the capture ended first",
        ]
    );
    assert_eq!(f.clients, ["g-2", "g-1"]);
    let about: Vec<(i32, Option<i32>, bool)> = f
        .about
        .iter()
        .map(|a| match a {
            About::Rebalance {
                from,
                to,
                membership_change,
                ..
            } => (*from, *to, *membership_change),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        about,
        [(2, Some(3), true), (3, Some(4), true), (4, None, true)]
    );
}

#[test]
fn storm_of_joins_and_leaves() {
    let fs = sample("groups_storm");
    assert_eq!(
        summary(&fs),
        [(
            "rebalance_storm",
            Warning,
            6,
            vec![170, 282, 392, 512, 621, 696]
        )]
    );
    assert!(
        fs[0].title.starts_with(
            "group churn rebalanced 6 times in 30.0 s (up to 6 within a minute): members joined 5 times and left 5 times"
        ),
        "{}",
        fs[0].title
    );
}

#[test]
fn coordinator_loading_and_move() {
    let fs = sample("groups_coordinator");
    assert_eq!(
        summary(&fs),
        [
            (
                "coordinator_unavailable",
                Warning,
                5,
                vec![77, 80, 83, 94, 97, 147]
            ),
            ("coordinator_moved", Info, 1, vec![172]),
        ]
    );
    assert!(fs[0].title.contains(
        "3 times: JoinGroup COORDINATOR_LOAD_IN_PROGRESS ×2, OffsetFetch COORDINATOR_LOAD_IN_PROGRESS ×2, Heartbeat NOT_COORDINATOR"
    ));
    assert!(
        fs[0]
            .title
            .ends_with("after 4.9 s at worst (JoinGroup, frame 83)")
    );
}

#[test]
fn kip848_fenced_member_rejoins() {
    let fs = sample("groups_kip848_fenced");
    assert_eq!(
        summary(&fs),
        // The fencing (226) is the rebalance's rejoin signal: one story.
        [("rebalance_unexplained", Warning, 1, vec![226, 229, 230])]
    );
    let fenced = fs[0].details.last().unwrap();
    assert!(fenced.starts_with(
        "the same rebalance: ConsumerGroupHeartbeat from fleet-1 in group fleet answered \
         FENCED_MEMBER_EPOCH (epoch 2)"
    ));
    assert!(fenced.ends_with("it rejoined (frame 229)"));
}

#[test]
fn unknown_topic_never_recovers() {
    let fs = sample("metadata_unknown_topic");
    assert_eq!(fs.len(), 1);
    let f = &fs[0];
    assert_eq!((f.code, f.severity, f.count), ("unknown_topic", Error, 18));
    assert_eq!(f.topics, ["nosuch"]);
    assert_eq!(
        f.title,
        "Metadata for topic nosuch answered UNKNOWN_TOPIC_OR_PARTITION 18 times over 5.0 s \
         (lost-producer); never succeeded"
    );
}

#[test]
fn authorization_failures_are_errors() {
    let fs = sample("metadata_authorization");
    assert_eq!(
        summary(&fs),
        [
            ("authorization_failed", Error, 2, vec![41, 60]),
            ("authorization_failed", Error, 1, vec![25]),
        ]
    );
    assert!(
        fs[0].title.starts_with(
            "FindCoordinator for group spies answered GROUP_AUTHORIZATION_FAILED twice"
        )
    );
    assert_eq!(fs[0].groups, ["spies"]);
    assert_eq!(
        fs[1].title,
        "Produce for topic secret[0] answered TOPIC_AUTHORIZATION_FAILED once (denied-producer); never succeeded"
    );
}

#[test]
#[ignore]
fn dump() {
    for name in corpus_captures() {
        println!("== {name}");
        for f in diagnose(&corpus_dir().join(format!("{name}.pcap"))) {
            println!(
                "{:?} {} {} | {}  frames={:?}",
                f.severity, f.code, f.count, f.title, f.frames
            );
            for d in &f.details {
                println!("      {d}");
            }
        }
    }
}

#[test]
#[ignore]
fn dump_groups() {
    use kwire::analysis::TopicNames;
    use kwire::analysis::groups::{GroupLimits, Groups};
    for name in corpus_captures() {
        let (records, _) = analyze(&corpus_dir().join(format!("{name}.pcap")), &[]);
        let mut names = TopicNames::new();
        let mut groups = Groups::new(GroupLimits::default());
        for (i, e) in exchanges(&records).iter().enumerate() {
            names.observe(e);
            groups.observe(i, e, &names);
        }
        for f in groups.iter() {
            println!(
                "== {name} {} {:?} coords={:?}",
                f.group_id, f.kind, f.coordinators
            );
            for g in &f.generations {
                println!(
                    "  gen {} frame {} ts {} members {:?}",
                    g.id,
                    g.frame,
                    g.ts.secs % 1000,
                    g.members
                );
            }
            for m in &f.members {
                println!(
                    "  member {} {:?} left={} gen={:?} last={}",
                    m.member_id, m.client_id, m.left, m.generation, m.last_frame
                );
            }
            for s in &f.steps {
                println!(
                    "   {} {}.{:03} x{} {:?} {} {:?}",
                    s.frame,
                    s.ts.secs % 1000,
                    s.ts.nanos / 1_000_000,
                    s.count,
                    s.member.as_deref(),
                    s.label(),
                    s.error
                );
            }
        }
    }
}

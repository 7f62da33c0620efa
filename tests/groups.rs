//! Consumer-group flows on the corpus's real captures: the classic
//! protocol's generations and assignments (confluent_basic `billing`),
//! KIP-848's epochs and assignments (kip848 `dispatch`), errors tied to
//! generations (errors_mtu1500 `ledger`), and invariants over every capture.
//! Values checked against `tshark -V` (JoinGroup, SyncGroup, Heartbeat,
//! LeaveGroup, OffsetCommit) and `kwire export` (ConsumerGroupHeartbeat,
//! which tshark 4.0 does not decode).

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;

use common::*;
use kwire::analysis::TopicNames;
use kwire::analysis::groups::{
    GroupFlow, GroupLimits, GroupProtocolKind, Groups, Step, StepKind, TopicPartitions,
    format_assignment,
};
use kwire::analysis::topics::group_of;
use kwire::session::{Exchange, Record};

fn records(name: &str) -> Vec<Record> {
    analyze(&corpus_dir().join(format!("{name}.pcap")), &[]).0
}

fn feed(ex: &[&Exchange], limits: GroupLimits) -> Groups {
    let mut names = TopicNames::new();
    let mut groups = Groups::new(limits);
    for (i, e) in ex.iter().enumerate() {
        names.observe(e);
        groups.observe(i, e, &names);
    }
    groups
}

fn flows(name: &str) -> Groups {
    feed(&exchanges(&records(name)), GroupLimits::default())
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn assignment(f: &GroupFlow, generation: i32, member: &str) -> String {
    let g = f.generation(generation).unwrap();
    format_assignment(g.assignment(member).unwrap())
}

fn step_at(f: &GroupFlow, frame: u64) -> &Step {
    f.steps
        .iter()
        .find(|s| s.frame == frame)
        .unwrap_or_else(|| panic!("no step at frame {frame}"))
}

/// (topic, partition) pairs.
fn pairs(a: &[TopicPartitions]) -> BTreeSet<(String, i32)> {
    a.iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.topic.clone(), *p)))
        .collect()
}

const M1: &str = "0x7fa16400a9b0"; // billing-1
const M2: &str = "0x7fa16400a600"; // billing-2

#[test]
fn billing_grows_to_two_members_and_shrinks_back() {
    let groups = flows("confluent_basic");
    assert_eq!(groups.len(), 1);
    assert_eq!(groups.dropped(), 0);
    let f = groups.get("billing").unwrap();
    assert_eq!(f.kind, GroupProtocolKind::Classic);
    assert_eq!(f.protocol_type.as_deref(), Some("consumer"));
    assert_eq!(f.coordinators, [addr("127.0.0.1:35465")]);

    // Generations 2, 3, 4, announced by the JoinGroup responses in frames
    // 380, 529 and 803; range chosen, billing-1 leading throughout.
    let ids: Vec<i32> = f.generations.iter().map(|g| g.id).collect();
    assert_eq!(ids, [2, 3, 4]);
    let frames: Vec<u64> = f.generations.iter().map(|g| g.frame).collect();
    assert_eq!(frames, [380, 529, 803]);
    for g in &f.generations {
        assert_eq!(g.protocol.as_deref(), Some("range"));
        assert_eq!(g.leader.as_deref(), Some(M1));
    }

    // Alone: everything.
    let g2 = f.generation(2).unwrap();
    assert_eq!(g2.members, [M1]);
    assert_eq!(assignment(f, 2, M1), "events[0,1,2,3] orders[0,1,2,3]");
    // billing-2 joins: two members, disjoint halves covering both topics.
    let g3 = f.generation(3).unwrap();
    assert_eq!(g3.members, [M1, M2]);
    assert_eq!(assignment(f, 3, M1), "events[2,3] orders[2,3]");
    assert_eq!(assignment(f, 3, M2), "events[0,1] orders[0,1]");
    let (a1, a2) = (
        pairs(g3.assignment(M1).unwrap()),
        pairs(g3.assignment(M2).unwrap()),
    );
    assert!(a1.is_disjoint(&a2));
    let all: BTreeSet<_> = a1.union(&a2).cloned().collect();
    assert_eq!(all, pairs(g2.assignment(M1).unwrap()));
    // billing-2 leaves: generation 4 has billing-1 alone. The capture ends
    // before its SyncGroup (billing-1 closes while rejoining), so no
    // assignment of generation 4 was seen.
    let g4 = f.generation(4).unwrap();
    assert_eq!(g4.members, [M1]);
    assert!(g4.assignments.is_empty());

    let m1 = f.member(M1).unwrap();
    assert_eq!(m1.client_id.as_deref(), Some("billing-1"));
    assert_eq!(m1.client, addr("127.0.0.1:37706"));
    assert_eq!((m1.joined_generation, m1.generation), (Some(2), Some(4)));
    assert_eq!(m1.subscription, ["events", "orders"]);
    assert_eq!(m1.assignment_generation, Some(3));
    assert_eq!(format_assignment(&m1.assignment), "events[2,3] orders[2,3]");
    assert!(m1.left); // LeaveGroup in frame 801, on close
    let m2 = f.member(M2).unwrap();
    assert_eq!(m2.client_id.as_deref(), Some("billing-2"));
    assert_eq!((m2.joined_generation, m2.generation), (Some(3), Some(3)));
    assert_eq!(format_assignment(&m2.assignment), "events[0,1] orders[0,1]");
    assert!(m2.left);
    assert_eq!((m2.first_frame, m2.last_frame), (513, 772));

    // The ladder.
    let join2 = step_at(f, 513);
    assert_eq!(join2.member.as_deref(), Some(M2));
    assert_eq!(
        join2.label(),
        "JoinGroup (new member) → gen 3, follower, range"
    );
    assert!(matches!(join2.kind, StepKind::Join { rejoin: false, .. }));
    assert_eq!(
        step_at(f, 521).label(),
        "JoinGroup → gen 3, leader, range (2 members)"
    );
    assert_eq!(
        step_at(f, 536).label(),
        "SyncGroup gen 3 (leader, 2 assignments) → events[2,3] orders[2,3]"
    );
    assert_eq!(
        step_at(f, 532).label(),
        "SyncGroup gen 3 → events[0,1] orders[0,1]"
    );
    let leave = step_at(f, 771);
    assert_eq!(leave.member.as_deref(), Some(M2));
    assert_eq!(leave.generation, Some(3));
    assert_eq!(
        leave.kind,
        StepKind::Leave {
            members: vec![M2.into()]
        }
    );
    assert_eq!(step_at(f, 801).label(), "LeaveGroup gen 4");
    // The rebalances reach billing-1 as REBALANCE_IN_PROGRESS on a
    // heartbeat and a commit, in the generation being replaced.
    for (frame, generation, label) in [
        (516, 2, "Heartbeat gen 2 ✗ REBALANCE_IN_PROGRESS"),
        (
            519,
            2,
            "OffsetCommit gen 2, 3 partitions ✗ REBALANCE_IN_PROGRESS",
        ),
        (788, 3, "Heartbeat gen 3 ✗ REBALANCE_IN_PROGRESS"),
        (
            791,
            3,
            "OffsetCommit gen 3, 3 partitions ✗ REBALANCE_IN_PROGRESS",
        ),
    ] {
        let s = step_at(f, frame);
        assert_eq!(
            (s.generation, s.label().as_str()),
            (Some(generation), label)
        );
        assert_eq!(s.error, Some((27, "REBALANCE_IN_PROGRESS")));
    }
    assert_eq!(f.errors, 4);
    // Steady heartbeats collapse: billing-2's six in generation 3 after its
    // first, frames 647 to 755.
    let run = step_at(f, 647);
    assert_eq!((run.count, run.last_frame), (6, 755));
    assert_eq!(run.label(), "Heartbeat gen 3 ×6");
    let heartbeats: u32 = f
        .steps
        .iter()
        .filter(|s| s.kind == StepKind::Heartbeat)
        .map(|s| s.count)
        .sum();
    assert_eq!(heartbeats, 17); // 17 Heartbeat exchanges in `kwire list`
}

const D1: &str = "RDftfaz0Tu6aNwhIiX0rsg"; // dispatch-1
const D2: &str = "RuUBtkA4TRKCLUlvrpPBUw"; // dispatch-2

#[test]
fn kip848_dispatch_epochs_and_assignments() {
    let groups = flows("kip848");
    let f = groups.get("dispatch").unwrap();
    assert_eq!(f.kind, GroupProtocolKind::Consumer);
    assert_eq!(f.coordinators, [addr("127.0.0.1:41281")]);
    assert_eq!(f.errors, 0);

    let ids: Vec<i32> = f.generations.iter().map(|g| g.id).collect();
    assert_eq!(ids, [2, 3, 4]);
    let frames: Vec<u64> = f.generations.iter().map(|g| g.frame).collect();
    assert_eq!(frames, [75, 212, 326]);
    assert_eq!(f.generation(2).unwrap().members, [D1]);
    assert_eq!(f.generation(3).unwrap().members, [D1, D2]);
    assert_eq!(f.generation(4).unwrap().members, [D1]);
    // Topic ids named through the producer's Metadata v13 response.
    assert_eq!(assignment(f, 2, D1), "shipments[0,1,2,3]");
    assert_eq!(assignment(f, 3, D1), "shipments[0,1]");
    assert_eq!(assignment(f, 3, D2), "shipments[2,3]");
    assert_eq!(assignment(f, 4, D1), "shipments[0,1,2,3]");
    for g in &f.generations {
        for (_, a) in &g.assignments {
            assert!(
                a.iter()
                    .all(|t| t.topic == "shipments" && t.topic_id.is_some())
            );
        }
    }

    // dispatch-1's epochs as answered, rising: 2 on joining, 3 after
    // giving up two partitions, 4 when dispatch-2 has left.
    let epochs: Vec<i32> = f
        .steps
        .iter()
        .filter(|s| s.member.as_deref() == Some(D1))
        .filter_map(|s| match s.kind {
            StepKind::ConsumerHeartbeat {
                member_epoch: Some(e),
                ..
            } if e >= 0 => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(epochs, [2, 2, 2, 3, 3, 4, 4]);
    assert!(epochs.windows(2).all(|w| w[0] <= w[1]));

    for (frame, label) in [
        (
            72,
            "ConsumerGroupHeartbeat join → epoch 2, assigned shipments[0,1,2,3]",
        ),
        (154, "ConsumerGroupHeartbeat join → epoch 0"),
        (
            206,
            "ConsumerGroupHeartbeat epoch 2, assigned shipments[0,1]",
        ),
        (211, "ConsumerGroupHeartbeat epoch 2 → epoch 3"),
        (
            214,
            "ConsumerGroupHeartbeat join → epoch 3, assigned shipments[2,3]",
        ),
        (224, "ConsumerGroupHeartbeat epoch 3 ×2"),
        (308, "ConsumerGroupHeartbeat leave"),
        (
            325,
            "ConsumerGroupHeartbeat epoch 3 → epoch 4, assigned shipments[0,1,2,3]",
        ),
        (209, "OffsetCommit gen 2, 2 partitions"),
    ] {
        assert_eq!(step_at(f, frame).label(), label, "frame {frame}");
    }
    assert_eq!(step_at(f, 308).generation, Some(3));
    assert_eq!(step_at(f, 393).generation, Some(4));

    let d1 = f.member(D1).unwrap();
    assert_eq!(d1.client_id.as_deref(), Some("dispatch-1"));
    assert_eq!(d1.subscription, ["shipments"]);
    assert_eq!((d1.joined_generation, d1.generation), (Some(2), Some(4)));
    assert_eq!(format_assignment(&d1.assignment), "shipments[0,1,2,3]");
    assert!(d1.left);
    assert_eq!(d1.member_epoch, Some(-1));
    let d2 = f.member(D2).unwrap();
    assert_eq!((d2.joined_generation, d2.generation), (Some(3), Some(3)));
    assert_eq!(format_assignment(&d2.assignment), "shipments[2,3]");
    assert!(d2.left);
}

#[test]
fn errors_are_tied_to_their_generation() {
    let groups = flows("errors_mtu1500");
    let f = groups.get("ledger").unwrap();
    let ids: Vec<i32> = f.generations.iter().map(|g| g.id).collect();
    // Generation 4's JoinGroup went unanswered (the broker went down).
    assert_eq!(ids, [2, 3, 5]);
    for (frame, generation, code, name) in [
        (129, 2, 27, "REBALANCE_IN_PROGRESS"),
        (141, 3, 27, "REBALANCE_IN_PROGRESS"),
        (172, 3, 22, "ILLEGAL_GENERATION"),
    ] {
        let s = step_at(f, frame);
        assert_eq!(s.generation, Some(generation), "frame {frame}");
        assert_eq!(s.error, Some((code, name)), "frame {frame}");
        assert_eq!(s.member.as_deref(), Some("0x7fa1f8005290"));
    }
    assert_eq!(
        step_at(f, 129).label(),
        "Heartbeat gen 2 ✗ REBALANCE_IN_PROGRESS"
    );
    assert_eq!(
        step_at(f, 172).label(),
        "OffsetCommit gen 3, 3 partitions ✗ ILLEGAL_GENERATION"
    );
    assert_eq!(
        step_at(f, 114).label(),
        "JoinGroup (new member) [range,roundrobin] ✗ NOT_COORDINATOR"
    );
    let lost = step_at(f, 175);
    assert!(lost.no_response);
    assert_eq!(lost.label(), "JoinGroup [range,roundrobin] (no response)");
    for frame in [70, 93] {
        assert_eq!(
            step_at(f, frame).label(),
            "FindCoordinator ✗ COORDINATOR_NOT_AVAILABLE"
        );
    }
    // The broker that said NOT_COORDINATOR became the coordinator.
    assert_eq!(f.coordinators, [addr("127.0.0.1:45015")]);
    assert_eq!(f.errors, 6);
    let m = f.member("0x7fa1f8005290").unwrap();
    assert_eq!(m.client, addr("127.0.0.1:50398")); // reconnected
    assert_eq!(format_assignment(&m.assignment), "payments[0,1,2]");
}

/// The groups an exchange is filed under (the corpus has single-group
/// requests only).
fn group_exchanges(ex: &[&Exchange], group: &str) -> u64 {
    ex.iter()
        .filter(|e| group_of(e).as_deref() == Some(group))
        .count() as u64
}

#[test]
fn every_capture_keeps_the_invariants() {
    for c in corpus_captures() {
        let recs = records(&c);
        let ex = exchanges(&recs);
        let groups = feed(&ex, GroupLimits::default());
        assert_eq!(groups.dropped(), 0, "{c}");
        for f in groups.iter() {
            let ctx = format!("{c} {}", f.group_id);
            // Every group exchange is a step or counted in one.
            let counted: u64 = f.steps.iter().map(|s| u64::from(s.count)).sum();
            assert_eq!(counted, group_exchanges(&ex, &f.group_id), "{ctx}");
            assert!(
                f.steps.windows(2).all(|w| w[0].ts <= w[1].ts),
                "{ctx}: steps out of order"
            );
            assert!(f.generations.windows(2).all(|w| w[0].id < w[1].id), "{ctx}");
            for s in &f.steps {
                assert_eq!(ex[s.index].request.frame, s.frame, "{ctx}");
                assert_eq!(ex[s.last_index].request.frame, s.last_frame, "{ctx}");
                assert!(!s.label().is_empty());
            }
        }
    }
}

#[test]
fn arrival_order_does_not_change_the_model() {
    // Exchanges in request order instead of response order: the same
    // generations, members and assignments.
    for c in ["confluent_basic", "kip848", "errors_mtu1500"] {
        let recs = records(c);
        let ex = exchanges(&recs);
        let mut sorted = ex.clone();
        sorted.sort_by_key(|e| (e.request.ts, e.request.frame));
        let (a, b) = (
            feed(&ex, GroupLimits::default()),
            feed(&sorted, GroupLimits::default()),
        );
        // Members of a generation are listed in the order first seen.
        let generations = |f: &GroupFlow| {
            let mut v = f.generations.clone();
            for g in &mut v {
                g.members.sort();
                g.assignments.sort_by(|x, y| x.0.cmp(&y.0));
            }
            v
        };
        for (fa, fb) in a.iter().zip(b.iter()) {
            assert_eq!(generations(fa), generations(fb), "{c}");
            assert_eq!(fa.coordinators, fb.coordinators, "{c}");
            let key = |f: &GroupFlow| {
                let mut m: Vec<_> = f
                    .members
                    .iter()
                    .map(|m| {
                        (
                            m.member_id.clone(),
                            m.generation,
                            m.left,
                            m.assignment.clone(),
                        )
                    })
                    .collect();
                m.sort_by(|x, y| x.0.cmp(&y.0));
                m
            };
            assert_eq!(key(fa), key(fb), "{c}");
            let frames = |f: &GroupFlow| f.steps.iter().map(|s| s.frame).collect::<Vec<_>>();
            assert_eq!(frames(fa), frames(fb), "{c}");
        }
    }
}

#[test]
fn limits_drop_and_count() {
    let recs = records("confluent_basic");
    let ex = exchanges(&recs);
    let limits = GroupLimits {
        max_steps: 5,
        max_generations: 2,
        max_members: 1,
        ..GroupLimits::default()
    };
    let groups = feed(&ex, limits);
    let f = groups.get("billing").unwrap();
    assert_eq!(f.steps.len(), 5);
    assert_eq!(
        f.generations.iter().map(|g| g.id).collect::<Vec<_>>(),
        [2, 3]
    );
    assert_eq!(f.members.len(), 1);
    assert!(groups.dropped() > 0);
    let none = feed(
        &ex,
        GroupLimits {
            max_groups: 0,
            ..GroupLimits::default()
        },
    );
    assert!(none.is_empty());
    assert_eq!(none.dropped(), group_exchanges(&ex, "billing"));
}

//! One story per event: over every corpus capture and every sample (TLS
//! ones decrypted with the key log beside them), the findings never say
//! two things of one event. Stated over the events findings tell of
//! ([`About`]), not their wording:
//!
//! - no rebalance of a group is said both to have and not to have had a
//!   member joining or leaving;
//! - each event (a group's rebalance, a broker's outage) is told by one
//!   finding: findings telling of the same one are folded into one story;
//! - a group's rebalances are one story: one finding tells of them.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;
use kwire::analysis::findings::{About, Finding};

fn samples(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            samples(&p, out);
        } else if p.extension().is_some_and(|x| x == "pcap" || x == "pcapng") {
            out.push(p);
        }
    }
}

/// Every capture the tests have.
fn captures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = corpus_captures()
        .iter()
        .map(|n| corpus_dir().join(format!("{n}.pcap")))
        .collect();
    samples(&samples_dir(), &mut v);
    v.sort();
    v
}

/// A group's rebalance: (group, from, to).
type Rebalance = (String, i32, Option<i32>);

/// What is wrong with these findings' accounts of events, if anything.
fn contradictions(fs: &[Finding]) -> Vec<String> {
    let mut bad = Vec::new();
    // A rebalance → (membership_change, code) as each finding says it.
    let mut said: BTreeMap<Rebalance, Vec<(bool, &str)>> = BTreeMap::new();
    for f in fs {
        for a in &f.about {
            if let About::Rebalance {
                group,
                from,
                to,
                membership_change,
            } = a
            {
                said.entry((group.clone(), *from, *to))
                    .or_default()
                    .push((*membership_change, f.code));
            }
        }
    }
    for ((group, from, to), v) in &said {
        if v.iter().any(|x| x.0) && v.iter().any(|x| !x.0) {
            bad.push(format!(
                "group {group} {from} → {to:?}: said both to have and not to have had a membership change: {v:?}"
            ));
        }
        if v.len() > 1 {
            bad.push(format!(
                "group {group} {from} → {to:?}: told by {} findings: {v:?}",
                v.len()
            ));
        }
    }
    // Outages: no two findings tell of overlapping outages of one broker.
    for (i, f) in fs.iter().enumerate() {
        for g in &fs[i + 1..] {
            for a in f.about.iter().filter(|a| matches!(a, About::Outage { .. })) {
                if g.about.iter().any(|b| a.same_event(b)) {
                    bad.push(format!(
                        "{a:?} told by both {} ({}) and {} ({})",
                        f.code, f.title, g.code, g.title
                    ));
                }
            }
        }
    }
    // A group's rebalances: one story.
    let mut stories: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for f in fs {
        let mut groups: Vec<&str> = f
            .about
            .iter()
            .filter_map(|a| match a {
                About::Rebalance { group, .. } => Some(group.as_str()),
                _ => None,
            })
            .collect();
        groups.dedup();
        for g in groups {
            stories.entry(g).or_default().push(f.code);
        }
    }
    for (g, codes) in stories {
        if codes.len() > 1 {
            bad.push(format!("group {g}'s rebalances told by {codes:?}"));
        }
    }
    bad
}

#[test]
fn one_story_per_event_in_every_capture() {
    let mut bad = Vec::new();
    let mut rebalances = 0;
    for path in captures() {
        let fs = diagnose(&path, &[]);
        rebalances += fs
            .iter()
            .flat_map(|f| &f.about)
            .filter(|a| matches!(a, About::Rebalance { .. }))
            .count();
        for b in contradictions(&fs) {
            bad.push(format!("{}: {b}", path.display()));
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
    // The captures do have rebalances to check (kafkajs, confluent, sarama,
    // KIP-848…).
    assert!(rebalances >= 20, "{rebalances}");
}

#[test]
fn contradictions_are_seen() {
    let r = |code, change| {
        let mut f = Finding::new(kwire::analysis::findings::Severity::Info, code, code);
        f.about(About::Rebalance {
            group: "g".into(),
            from: 4,
            to: None,
            membership_change: change,
        });
        f
    };
    let bad = contradictions(&[
        r("membership_change", true),
        r("rebalance_unexplained", false),
    ]);
    assert_eq!(bad.len(), 3, "{bad:#?}");
    assert!(bad[0].contains("said both to have and not to have had a membership change"));
    assert!(contradictions(&[r("membership_change", true)]).is_empty());
}

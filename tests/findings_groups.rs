//! Findings of metadata churn and consumer-group trouble on real captures.

mod common;

use common::*;
use kwire::analysis::findings::{Diagnoser, Finding};
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

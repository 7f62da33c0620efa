//! What one exchange moved: the records a Produce request carried and a
//! Fetch response returned, partition by partition, with each partition's
//! error code. One row of `kwire export --format parquet` per exchange says
//! it; [`super::stats`] adds the same numbers up per topic and partition.
//!
//! Contract:
//! * **The same counting as [`super::stats`]**: a partition's records are
//!   counted by the same function (batches, data records, bytes of the
//!   `records` field),
//!   produced from a Produce request, fetched from a Fetch response; a
//!   topic is named as stats names it (its name, else the name
//!   [`TopicNames`] knows for its id, else `id:1a2b3c4d…`; a topic with
//!   neither a name nor a non-zero id is not counted, as stats does not
//!   count it). So the sums over a capture's exchanges are stats' totals
//!   (while stats' tables had room: see [`super::stats::MAX_TOPICS`]).
//! * **Bounded**: at most [`MAX_PARTITIONS_PER_EXCHANGE`] partitions are
//!   listed; the records of those beyond still count in the totals, and
//!   how many were left out is said ([`ExchangeTraffic::partitions_dropped`]).
//! * **No panic**: bodies may be missing, partial or wrong.

use foldhash::HashMap;
use std::ops::Range;

use super::stats::{RecordFlow, flow, uuid_string};
use super::topics::TopicNames;
use crate::kafka::ApiKey;
use crate::kafka::schema::views::{FetchRequest, FetchResponse, ProduceRequest, ProduceResponse};
use crate::session::{Body, Exchange};

/// Most partitions listed for one exchange (a Fetch of a whole cluster can
/// name tens of thousands).
pub const MAX_PARTITIONS_PER_EXCHANGE: usize = 10_000;

/// One partition an exchange named, in its request or its response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartitionTraffic {
    /// The topic's name, as [`super::stats`] names it.
    pub topic: String,
    /// The topic's id (canonical UUID string), when the body gave a
    /// non-zero one.
    pub topic_id: Option<String>,
    pub partition: i32,
    /// The partition's error code in the response (0 included); none when
    /// the response did not name the partition.
    pub error_code: Option<i16>,
    /// Records produced (Produce request) or fetched (Fetch response).
    pub records: RecordFlow,
}

/// What one exchange moved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExchangeTraffic {
    /// Records in the Produce request, over its partitions.
    pub produced: RecordFlow,
    /// Records in the Fetch response, over its partitions.
    pub fetched: RecordFlow,
    /// The partitions named, in wire order (the request's first), each
    /// once.
    pub partitions: Vec<PartitionTraffic>,
    /// Partitions beyond [`MAX_PARTITIONS_PER_EXCHANGE`], not listed.
    pub partitions_dropped: u64,
}

/// One partition of a body, as it is read.
struct Part {
    index: Option<i32>,
    records: Option<Range<u32>>,
    error_code: Option<i16>,
}

/// The partitions, keyed for merging the request's with the response's.
#[derive(Default)]
struct Builder {
    out: ExchangeTraffic,
    at: HashMap<(String, i32), usize>,
}

impl Builder {
    /// One topic's partitions; `body` holds their `records`, when they are
    /// counted; `produce` says which way they go.
    fn topic(
        &mut self,
        name: Option<&str>,
        id: Option<&[u8; 16]>,
        names: &TopicNames,
        parts: impl Iterator<Item = Part>,
        body: Option<&Body>,
        produce: bool,
    ) {
        let id = id.copied().filter(|u| *u != [0; 16]);
        let topic = match (name, id) {
            (Some(n), _) => n.to_string(),
            (None, Some(id)) => names.id_label(&id),
            (None, None) => return,
        };
        for p in parts {
            let f = body.map(|b| flow(p.records, b)).unwrap_or_default();
            if produce {
                self.out.produced.add(f);
            } else {
                self.out.fetched.add(f);
            }
            let Some(index) = p.index else {
                continue;
            };
            let key = (topic.clone(), index);
            let i = match self.at.get(&key) {
                Some(&i) => i,
                None if self.out.partitions.len() < MAX_PARTITIONS_PER_EXCHANGE => {
                    self.out.partitions.push(PartitionTraffic {
                        topic: topic.clone(),
                        topic_id: id.as_ref().map(uuid_string),
                        partition: index,
                        ..PartitionTraffic::default()
                    });
                    self.at.insert(key, self.out.partitions.len() - 1);
                    self.out.partitions.len() - 1
                }
                None => {
                    self.out.partitions_dropped += 1;
                    continue;
                }
            };
            let Some(pt) = self.out.partitions.get_mut(i) else {
                continue;
            };
            pt.records.add(f);
            if p.error_code.is_some() {
                pt.error_code = p.error_code;
            }
            if pt.topic_id.is_none() {
                pt.topic_id = id.as_ref().map(uuid_string);
            }
        }
    }
}

/// What `e` moved (nothing for an API other than Produce and Fetch).
/// `names` names topics given by id (feed it the exchange first, as stats
/// does: `names.observe(e)`).
pub fn traffic_of(e: &Exchange, names: &TopicNames) -> ExchangeTraffic {
    let mut b = Builder::default();
    let (q, r) = (e.request_body.as_deref(), e.response_body.as_deref());
    match e.api_key {
        ApiKey::PRODUCE => {
            if let Some(q) = q
                && let Some(v) = q.view().map(ProduceRequest)
            {
                for t in v.topic_data().into_iter().flatten() {
                    let parts = t.partition_data().into_iter().flatten().map(|p| Part {
                        index: p.index(),
                        records: p.records(),
                        error_code: None,
                    });
                    b.topic(t.name(), t.topic_id(), names, parts, Some(q), true);
                }
            }
            for t in r
                .and_then(Body::view)
                .map(ProduceResponse)
                .and_then(|v| v.responses())
                .into_iter()
                .flatten()
            {
                let parts = t.partition_responses().into_iter().flatten().map(|p| Part {
                    index: p.index(),
                    records: None,
                    error_code: p.error_code(),
                });
                b.topic(t.name(), t.topic_id(), names, parts, None, true);
            }
        }
        ApiKey::FETCH => {
            for t in q
                .and_then(Body::view)
                .map(FetchRequest)
                .and_then(|v| v.topics())
                .into_iter()
                .flatten()
            {
                let parts = t.partitions().into_iter().flatten().map(|p| Part {
                    index: p.partition(),
                    records: None,
                    error_code: None,
                });
                b.topic(t.topic(), t.topic_id(), names, parts, None, false);
            }
            for t in r
                .and_then(Body::view)
                .map(FetchResponse)
                .and_then(|v| v.responses())
                .into_iter()
                .flatten()
            {
                let parts = t.partitions().into_iter().flatten().map(|p| Part {
                    index: p.partition_index(),
                    records: p.records(),
                    error_code: p.error_code(),
                });
                b.topic(t.topic(), t.topic_id(), names, parts, r, false);
            }
        }
        _ => {}
    }
    b.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::stats::Stats;
    use crate::analysis::stats::tests::{
        batch, exchange, fetch_request, fetch_response, produce_request, produce_response,
    };

    const NOT_LEADER: i16 = 6;
    const OFFSET_OUT_OF_RANGE: i16 = 1;

    fn part(
        topic: &str,
        partition: i32,
        error_code: Option<i16>,
        f: (u64, u64, u64),
    ) -> PartitionTraffic {
        PartitionTraffic {
            topic: topic.into(),
            topic_id: None,
            partition,
            error_code,
            records: RecordFlow {
                batches: f.0,
                records: f.1,
                bytes: f.2,
            },
        }
    }

    /// A Produce's request records and its response's error codes meet in
    /// one entry per partition; a Fetch's request partitions meet its
    /// response's records; the totals are what stats counts.
    #[test]
    fn produce_and_fetch_partitions() {
        let names = TopicNames::new();
        let q = produce_request(&[
            (
                "orders",
                &[
                    (0, &[batch(0, 3, false), batch(3, 2, false)][..]),
                    (1, &[batch(0, 4, false)][..]),
                ],
            ),
            ("events", &[(2, &[batch(0, 1, false)][..])]),
        ]);
        let r = produce_response(
            &[
                ("orders", &[(0, 0), (1, NOT_LEADER)]),
                ("events", &[(2, 0)]),
            ],
            0,
        );
        let produce = exchange(0, 3, 10, Some("p"), Some(&q), Some(&r), Some(500));
        let t = traffic_of(&produce, &names);
        assert_eq!(
            t.partitions,
            vec![
                part("orders", 0, Some(0), (2, 5, 2 * 69)),
                part("orders", 1, Some(NOT_LEADER), (1, 4, 69)),
                part("events", 2, Some(0), (1, 1, 69)),
            ]
        );
        assert_eq!(
            (t.produced.batches, t.produced.records, t.produced.bytes),
            (4, 10, 4 * 69)
        );
        assert_eq!(t.fetched, RecordFlow::default());

        // Partition 2 is asked for and not answered: listed, no error code.
        let q = fetch_request(&[("orders", &[0, 1, 2])]);
        let r = fetch_response(
            &[(
                "orders",
                &[
                    (0, 0, &[batch(0, 3, false), batch(3, 1, true)][..]),
                    (1, OFFSET_OUT_OF_RANGE, &[][..]),
                ],
            )],
            0,
        );
        let fetch = exchange(1, 4, 20, Some("c"), Some(&q), Some(&r), Some(800));
        let t = traffic_of(&fetch, &names);
        assert_eq!(
            t.partitions,
            vec![
                part("orders", 0, Some(0), (2, 3, 2 * 69)),
                part("orders", 1, Some(OFFSET_OUT_OF_RANGE), (0, 0, 0)),
                part("orders", 2, None, (0, 0, 0)),
            ]
        );
        assert_eq!(t.produced, RecordFlow::default());

        // Stats over the same two exchanges says the same totals.
        let mut s = Stats::new();
        s.observe(&produce, &names);
        s.observe(&fetch, &names);
        let (mut produced, mut fetched) = (RecordFlow::default(), RecordFlow::default());
        for topic in s.topics() {
            produced.add(topic.traffic.produced);
            fetched.add(topic.traffic.fetched);
        }
        let mut ours = traffic_of(&produce, &names);
        ours.fetched.add(traffic_of(&fetch, &names).fetched);
        assert_eq!((ours.produced, ours.fetched), (produced, fetched));
    }

    /// Other APIs move nothing; bodies missing or cut give what they hold.
    #[test]
    fn other_and_broken_exchanges() {
        let names = TopicNames::new();
        let none = exchange(3, 1, 5, None, None, None, None);
        assert_eq!(traffic_of(&none, &names), ExchangeTraffic::default());
        let q = produce_request(&[("orders", &[(0, &[batch(0, 3, false)][..])])]);
        for cut in 0..q.len() {
            let e = exchange(0, 3, 7, None, Some(&q[..cut]), None, None);
            let t = traffic_of(&e, &names);
            assert!(t.produced.records <= 3 && t.partitions.len() <= 1);
        }
    }

    /// Past the limit, partitions are counted, not listed.
    #[test]
    fn partitions_are_bounded() {
        let names = TopicNames::new();
        let parts: Vec<i32> = (0..MAX_PARTITIONS_PER_EXCHANGE as i32 + 5).collect();
        let q = fetch_request(&[("wide", &parts)]);
        let e = exchange(1, 4, 1, None, Some(&q), None, None);
        let t = traffic_of(&e, &names);
        assert_eq!(t.partitions.len(), MAX_PARTITIONS_PER_EXCHANGE);
        assert_eq!(t.partitions_dropped, 5);
    }
}

//! A latency histogram of fixed size: microseconds in log-linear buckets.
//!
//! Values below [`SUB_BUCKETS`] µs have a bucket each (exact). Above, every
//! power of two `[2^e, 2^(e+1))` is cut into [`SUB_BUCKETS`] equal buckets, so
//! a bucket is at most 1/64 of its lower bound wide and the value reported for
//! it (its middle) is within 1/128 (0.78%) of any value it holds, from 1 µs to
//! [`MAX_TRACKED_US`] (2^32 µs, 71 minutes). Larger values share the last
//! bucket; negative ones (a response captured before its request) the first
//! (reported as 0).
//! Count, sum, minimum and maximum are exact whatever the value.
//!
//! Memory is one allocation of [`BUCKETS`] `u32` counters (6.75 KiB), made
//! once. Should a counter reach `u32::MAX` (four billion latencies in one
//! bucket), every counter is halved: percentiles keep the proportions, the
//! exact count goes on. Nothing here panics.

/// Buckets per power of two (and the number of exact buckets below).
pub const SUB_BUCKETS: usize = 64;
const SUB_BITS: u32 = SUB_BUCKETS.trailing_zeros();
/// Values up to this many microseconds are kept within the error bound.
pub const MAX_TRACKED_US: i64 = 1 << 32;
/// Number of buckets: the exact ones, then one run per power of two from
/// 2^6 to 2^31.
pub const BUCKETS: usize = SUB_BUCKETS + SUB_BUCKETS * (32 - SUB_BITS as usize);
// More than an hour, in under 7 KiB.
const _: () = assert!(MAX_TRACKED_US > 3_600_000_000 && BUCKETS * 4 <= 7 * 1024);

/// A latency distribution in microseconds. See the module doc.
#[derive(Clone, PartialEq, Eq)]
pub struct Histogram {
    buckets: Box<[u32; BUCKETS]>,
    count: u64,
    sum: i64,
    min: i64,
    max: i64,
}

/// A latency and its two parts, when several captures saw exchanges at
/// both ends: the client's = the broker's + the network's.
#[derive(Clone, Debug, Default)]
pub struct SplitLatency {
    pub client: Histogram,
    pub broker: Histogram,
    pub network: Histogram,
}

impl SplitLatency {
    pub fn record(&mut self, client_us: i64, broker_us: i64, network_us: i64) {
        self.client.record(client_us);
        self.broker.record(broker_us);
        self.network.record(network_us);
    }

    /// The three at quantile `q` (client, broker, network), when any.
    pub fn at(&self, q: f64) -> Option<(i64, i64, i64)> {
        Some((
            self.client.percentile(q)?,
            self.broker.percentile(q)?,
            self.network.percentile(q)?,
        ))
    }

    pub fn count(&self) -> u64 {
        self.client.count()
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("count", &self.count)
            .field("min", &self.min())
            .field("max", &self.max())
            .field("p50", &self.percentile(0.5))
            .field("p99", &self.percentile(0.99))
            .finish()
    }
}

/// The bucket of a value (clamped into the tracked range).
fn bucket_of(us: i64) -> usize {
    let v = us.clamp(0, MAX_TRACKED_US - 1) as u64;
    if v < SUB_BUCKETS as u64 {
        return v as usize;
    }
    // v >= 64, so e >= 6: the power of two holding v.
    let e = 63 - v.leading_zeros();
    let sub = (v >> (e - SUB_BITS)) as usize & (SUB_BUCKETS - 1);
    SUB_BUCKETS * (e - SUB_BITS + 1) as usize + sub
}

/// The smallest value and the width of bucket `i`.
fn bucket_range(i: usize) -> (i64, i64) {
    if i < SUB_BUCKETS {
        return (i as i64, 1);
    }
    let e = (i / SUB_BUCKETS) as u32 + SUB_BITS - 1;
    let sub = (i % SUB_BUCKETS) as i64;
    let width = 1i64 << (e - SUB_BITS);
    ((1i64 << e) + sub * width, width)
}

/// The bucket a latency of `us` microseconds falls in (clamped into the
/// tracked range, as [`Histogram::record`] does): for layouts built on this
/// one, such as the Prometheus exposition's `le` bounds
/// ([`crate::analysis::metrics::LE_US`]).
pub fn bucket_index(us: i64) -> usize {
    bucket_of(us)
}

/// The smallest value of bucket `i` (`i < BUCKETS`) and its width, in
/// microseconds: the bucket holds `start..start + width`.
pub fn bucket_bounds(i: usize) -> (i64, i64) {
    bucket_range(i.min(BUCKETS - 1))
}

impl Histogram {
    pub fn new() -> Self {
        Histogram {
            buckets: Box::new([0; BUCKETS]),
            count: 0,
            sum: 0,
            min: i64::MAX,
            max: i64::MIN,
        }
    }

    /// Add one latency in microseconds.
    pub fn record(&mut self, us: i64) {
        let b = &mut self.buckets[bucket_of(us)];
        if *b == u32::MAX {
            self.halve();
        }
        self.buckets[bucket_of(us)] += 1;
        self.count += 1;
        self.sum = self.sum.saturating_add(us);
        self.min = self.min.min(us);
        self.max = self.max.max(us);
    }

    fn halve(&mut self) {
        for b in self.buckets.iter_mut() {
            // Keep a non-empty bucket non-empty.
            *b = (*b).div_ceil(2);
        }
    }

    /// Add everything `other` recorded.
    pub fn merge(&mut self, other: &Histogram) {
        if other.count == 0 {
            return;
        }
        for i in 0..BUCKETS {
            while self.buckets[i].checked_add(other.buckets[i]).is_none() {
                self.halve();
            }
            self.buckets[i] += other.buckets[i];
        }
        self.count += other.count;
        self.sum = self.sum.saturating_add(other.sum);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// How many latencies were recorded (exact).
    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The smallest latency recorded (exact).
    pub fn min(&self) -> Option<i64> {
        (self.count > 0).then_some(self.min)
    }

    /// The largest latency recorded (exact).
    pub fn max(&self) -> Option<i64> {
        (self.count > 0).then_some(self.max)
    }

    /// The sum of all latencies (exact unless it overflows `i64`, then
    /// saturated).
    pub fn sum(&self) -> i64 {
        self.sum
    }

    /// The mean, rounded toward zero.
    pub fn mean(&self) -> Option<i64> {
        (self.count > 0).then(|| self.sum / self.count as i64)
    }

    /// The latency at quantile `q` (0.5 for p50, 0.99 for p99; clamped to
    /// 0..=1): the value of rank `ceil(q × n)` (at least 1) in sorted order,
    /// within 0.78% (exact below 64 µs, and for q = 0 and 1). `None` when
    /// empty or `q` is NaN.
    pub fn percentile(&self, q: f64) -> Option<i64> {
        if self.count == 0 || q.is_nan() {
            return None;
        }
        let q = q.clamp(0.0, 1.0);
        if q == 0.0 {
            return Some(self.min);
        }
        if q == 1.0 {
            return Some(self.max);
        }
        // Ranks over the bucket counters (which equal `count` unless halved).
        Some(rank_value(
            self.buckets.iter().map(|&b| u64::from(b)),
            q,
            self.min,
            self.max,
        ))
    }

    /// Non-empty buckets as `(lowest value, highest value, count)`, in
    /// increasing order: for drawing a distribution.
    pub fn buckets(&self) -> impl Iterator<Item = (i64, i64, u32)> + '_ {
        self.buckets
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, &c)| {
                let (lo, w) = bucket_range(i);
                (lo, lo + w - 1, c)
            })
    }

    /// `{count, min, max, mean, p50, p90, p99}` in microseconds (nulls when
    /// empty).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "count": self.count,
            "min": self.min(),
            "max": self.max(),
            "mean": self.mean(),
            "p50": self.percentile(0.5),
            "p90": self.percentile(0.9),
            "p99": self.percentile(0.99),
        })
    }
}

/// The value at quantile `q` (in `(0, 1)`) of bucket counters `buckets`
/// (in bucket order), clamped to `min..=max`.
fn rank_value(buckets: impl Iterator<Item = u64> + Clone, q: f64, min: i64, max: i64) -> i64 {
    let total: u64 = buckets.clone().sum();
    let rank = ((q * total as f64).ceil() as u64).clamp(1, total.max(1));
    let mut seen = 0u64;
    for (i, b) in buckets.enumerate() {
        seen += b;
        if seen >= rank {
            let (lo, width) = bucket_range(i);
            let mid = lo + (width - 1) / 2;
            return mid.clamp(min, max);
        }
    }
    max
}

/// Several histograms added up, from which any one of them can be taken
/// out again: "every broker but this one" for each broker in one pass over
/// each, where merging the others for each would be quadratic. Counters
/// are `u64` (no halving): the sum is exact.
pub struct Total {
    buckets: Box<[u64; BUCKETS]>,
    count: u64,
}

impl Default for Total {
    fn default() -> Self {
        Total {
            buckets: Box::new([0; BUCKETS]),
            count: 0,
        }
    }
}

impl Total {
    pub fn add(&mut self, h: &Histogram) {
        for (t, &b) in self.buckets.iter_mut().zip(h.buckets.iter()) {
            *t += u64::from(b);
        }
        self.count += h.count;
    }

    /// The latency at quantile `q` of everything added but `own` (which
    /// was added), clamped to `min..=max` (the others' extremes); `None`
    /// when nothing else was added or `q` is NaN. What
    /// [`Histogram::percentile`] of the others merged gives.
    pub fn percentile_without(&self, own: &Histogram, q: f64, min: i64, max: i64) -> Option<i64> {
        if self.count <= own.count || q.is_nan() {
            return None;
        }
        let q = q.clamp(0.0, 1.0);
        if q == 0.0 {
            return Some(min);
        }
        if q == 1.0 {
            return Some(max);
        }
        let others = self
            .buckets
            .iter()
            .zip(own.buckets.iter())
            .map(|(&t, &o)| t.saturating_sub(u64::from(o)));
        Some(rank_value(others, q, min, max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64*: reproducible pseudo-random numbers without a crate.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }

    fn exact(sorted: &[i64], q: f64) -> i64 {
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }

    #[test]
    fn total_without_one_is_the_others_merged() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let hs: Vec<Histogram> = (0..5)
            .map(|k| {
                let mut h = Histogram::new();
                for _ in 0..(k * 300 + 1) {
                    h.record((rng.next() % (1 << (8 + 4 * k))) as i64);
                }
                h
            })
            .collect();
        let mut total = Total::default();
        for h in &hs {
            total.add(h);
        }
        for (i, own) in hs.iter().enumerate() {
            let mut others = Histogram::new();
            for (j, h) in hs.iter().enumerate() {
                if i != j {
                    others.merge(h);
                }
            }
            let (min, max) = (others.min().unwrap(), others.max().unwrap());
            for q in [0.0, 0.1, 0.5, 0.9, 0.99, 1.0] {
                assert_eq!(
                    total.percentile_without(own, q, min, max),
                    others.percentile(q),
                    "histogram {i}, q {q}"
                );
            }
        }
        let mut one = Total::default();
        one.add(&hs[0]);
        assert_eq!(one.percentile_without(&hs[0], 0.5, 0, 0), None);
    }

    #[test]
    fn buckets_tile_the_range() {
        // Every bucket starts where the previous one ended, and bucket_of
        // maps both ends of each bucket back to it.
        let mut next = 0i64;
        for i in 0..BUCKETS {
            let (lo, w) = bucket_range(i);
            assert_eq!(lo, next, "bucket {i}");
            assert_eq!(bucket_of(lo), i);
            assert_eq!(bucket_of(lo + w - 1), i);
            // Width at most 1/64 of the lower bound: ≤ 0.78% from the middle.
            assert!(w == 1 || w * 64 <= lo, "bucket {i}: {lo}+{w}");
            next = lo + w;
        }
        assert_eq!(next, MAX_TRACKED_US);
        assert_eq!(bucket_of(-5), 0);
        assert_eq!(bucket_of(i64::MAX), BUCKETS - 1);
    }

    #[test]
    fn percentiles_within_one_percent_of_exact() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for (round, spread) in [10u32, 20, 32, 36].into_iter().enumerate() {
            let mut h = Histogram::new();
            let mut v = Vec::new();
            for _ in 0..20_000 + round * 1000 {
                // Log-uniform over 2^0..2^spread µs: every scale gets values.
                let bits = (rng.next() % u64::from(spread)) as u32;
                let x = (rng.next() >> (64 - bits.max(1))) as i64 + 1;
                h.record(x);
                v.push(x);
            }
            v.sort_unstable();
            assert_eq!(h.count(), v.len() as u64);
            assert_eq!(h.min(), v.first().copied());
            assert_eq!(h.max(), v.last().copied());
            assert_eq!(h.sum(), v.iter().sum::<i64>());
            for q in [0.0, 0.001, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0] {
                let want = exact(&v, q);
                let got = h.percentile(q).unwrap();
                if want < MAX_TRACKED_US {
                    let err = (got - want).abs() as f64 / want as f64;
                    assert!(err <= 0.01, "q={q} spread={spread}: {got} vs {want}");
                    if want < SUB_BUCKETS as i64 {
                        assert_eq!(got, want);
                    }
                }
            }
        }
    }

    #[test]
    fn uniform_small_values_are_exact() {
        let mut rng = Rng(42);
        let mut h = Histogram::new();
        let mut v: Vec<i64> = (0..5000).map(|_| (rng.next() % 64) as i64).collect();
        v.iter().for_each(|&x| h.record(x));
        v.sort_unstable();
        for q in [0.1, 0.5, 0.9, 0.99] {
            assert_eq!(h.percentile(q), Some(exact(&v, q)));
        }
    }

    #[test]
    fn merge_equals_recording_everything() {
        let mut rng = Rng(7);
        let (mut a, mut b, mut all) = (Histogram::new(), Histogram::new(), Histogram::new());
        for i in 0..10_000 {
            let x = (rng.next() % 5_000_000) as i64;
            if i % 3 == 0 { &mut a } else { &mut b }.record(x);
            all.record(x);
        }
        a.merge(&b);
        assert_eq!(a, all);
        a.merge(&Histogram::new());
        assert_eq!(a, all);
        let mut e = Histogram::new();
        e.merge(&all);
        assert_eq!(e, all);
    }

    #[test]
    fn edges() {
        let mut h = Histogram::new();
        assert_eq!(h.percentile(0.5), None);
        assert_eq!((h.min(), h.max(), h.mean()), (None, None, None));
        h.record(-3);
        h.record(i64::MAX);
        h.record(7_200_000_000); // two hours
        assert_eq!(h.count(), 3);
        assert_eq!(h.min(), Some(-3));
        assert_eq!(h.max(), Some(i64::MAX));
        assert_eq!(h.sum(), i64::MAX); // saturated
        assert_eq!(h.percentile(0.0), Some(-3));
        assert_eq!(h.percentile(1.0), Some(i64::MAX));
        assert_eq!(h.percentile(f64::NAN), None);
        assert_eq!(h.percentile(-1.0), Some(-3));
        assert_eq!(h.percentile(0.2), Some(0)); // negatives share bucket 0
        // Beyond the tracked range the last bucket's middle is reported.
        assert!(h.percentile(0.5).unwrap() >= MAX_TRACKED_US - (MAX_TRACKED_US >> 7));
        let j = h.to_json();
        assert_eq!(j["count"], 3);
        assert_eq!(j["min"], -3);
    }

    #[test]
    fn a_full_counter_halves_all() {
        let mut h = Histogram::new();
        h.buckets[bucket_of(100)] = u32::MAX;
        h.buckets[bucket_of(10)] = 3;
        h.count = u64::from(u32::MAX) + 3;
        h.min = 10;
        h.max = 100;
        h.record(100);
        assert_eq!(h.count(), u64::from(u32::MAX) + 4);
        assert_eq!(h.buckets[bucket_of(10)], 2);
        assert_eq!(h.buckets[bucket_of(100)], (u32::MAX).div_ceil(2) + 1);
        assert_eq!(h.percentile(0.5), Some(100));
        let mut m = h.clone();
        m.merge(&h);
        assert_eq!(m.count(), 2 * h.count());
        assert_eq!(m.percentile(0.5), Some(100));
    }
}

//! The price buckets of a consolidated book (`cobflow/metrics/cob.py` `consolidate`),
//! computed from native venue books as numpy computes them there, bit for bit: each
//! level's bucket floor(price / b) - center + 20; per bucket, sizes and price * size added
//! in the order numpy's bincount adds them (venue after venue, prices ascending); the
//! venues holding size there; and each side's total summed as numpy's pairwise sum does.

use crate::book::Side;

pub const N: usize = 41;

pub struct SideBuckets {
    pub qty: [f64; N],
    pub notional: [f64; N],
    pub total: f64,
}

/// One side of every venue, venue v's prices times `scales[v]` (a quote conversion's rate;
/// 1.0 leaves a price's bits as they are); `held[v][k]` is set where venue v holds size in
/// bucket k.
pub fn bucket_side(sides: &[&Side], scales: &[f64], b: f64, center: i64, held: &mut [[bool; N]]) -> SideBuckets {
    let (mut qty, mut notional) = ([0.0; N], [0.0; N]);
    for (v, side) in sides.iter().enumerate() {
        let scale = scales[v];
        for (&p, &q) in side.prices.iter().zip(&side.sizes) {
            let p = p * scale;
            let k = (p / b).floor() as i64 - center + 20;
            if (0..N as i64).contains(&k) {
                let k = k as usize;
                qty[k] += q;
                notional[k] += p * q;
                if q > 0.0 {
                    held[v][k] = true;
                }
            }
        }
    }
    let total = 0.0 + pairwise_sum(&qty);
    SideBuckets { qty, notional, total }
}

/// numpy's pairwise summation of a float64 array (`np.add.reduce`, numpy/_core/src/umath).
pub fn pairwise_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        return a.iter().fold(0.0, |s, &x| s + x);
    }
    if n <= 128 {
        let mut r: [f64; 8] = a[..8].try_into().unwrap();
        let mut i = 8;
        while i < n - n % 8 {
            for j in 0..8 {
                r[j] += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &x in &a[i..] {
            res += x;
        }
        return res;
    }
    let mut n2 = n / 2;
    n2 -= n2 % 8;
    pairwise_sum(&a[..n2]) + pairwise_sum(&a[n2..])
}

/// The average price of selling `qty` into the bids (`sell`) or buying it from the asks,
/// best levels first, each price times `scale`; None when the side is not that deep. As
/// `cobflow/metrics/signals.py` `executable` computes it with numpy, bit for bit: the
/// running total of sizes capped at `qty` (cumsum, minimum), each level's take its
/// difference, the takes times the prices summed pairwise (every level's, zeros too).
pub fn executable(side: &Side, scale: f64, qty: f64, sell: bool) -> Option<f64> {
    let n = side.prices.len();
    if n == 0 {
        return None;
    }
    let mut products = Vec::with_capacity(n);
    let (mut total, mut before) = (0.0, 0.0);
    for idx in 0..n {
        let i = if sell { n - 1 - idx } else { idx };
        let q = side.sizes[i];
        total = if idx == 0 { q } else { total + q };
        let filled = if total.is_nan() || total < qty { total } else { qty };
        products.push((filled - before) * (side.prices[i] * scale));
        before = filled;
    }
    if before < qty * (1.0 - 1e-12) {
        return None;
    }
    Some(pairwise_sum(&products) / qty)
}

/// The levels of one side an order of `notional` reaches, best first, and no fewer than
/// `min_levels` (`cobflow/execution/fills.py` `venue_levels`, bit for bit): the running
/// total of price x size (a cumsum), the first level where it reaches `notional`
/// (searchsorted, left) and that one; prices times `scale`.
pub fn levels_for(side: &Side, scale: f64, notional: f64, min_levels: usize) -> (Vec<f64>, Vec<f64>) {
    let n = side.prices.len();
    let best_first = |k: usize| if side.is_bid { n - 1 - k } else { k };
    let (mut reach, mut cover) = (0.0, n);
    for k in 0..n {
        let i = best_first(k);
        let value = side.prices[i] * scale * side.sizes[i];
        reach = if k == 0 { value } else { reach + value };
        if reach >= notional || reach.is_nan() {
            cover = k + 1;
            break;
        }
    }
    let take = cover.max(n.min(min_levels));
    (0..take).map(|k| (side.prices[best_first(k)] * scale, side.sizes[best_first(k)])).unzip()
}

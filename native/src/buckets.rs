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

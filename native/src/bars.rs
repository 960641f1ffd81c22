//! OHLCV bars of trades (`cobflow/metrics/trades.py` `BarBuilder`, the reference): per venue
//! and ALL, per timeframe; a trade in a later window closes the bar of the earlier one. One
//! trade at a time, as the reference's definition reads, with the same arithmetic in the
//! same order, so both give the same bits.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

pub const ALL: &str = "ALL";

#[derive(Clone, Serialize, Deserialize, PartialEq, Debug)]
pub struct Bar {
    pub start_s: i64,
    pub venue: String,
    pub timeframe: String,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
    pub buy_volume: f64,
    pub sell_volume: f64,
    pub trades: i64,
    pub notional: f64,
}

#[derive(Clone)]
pub struct Bars {
    timeframes: Vec<(String, i64)>, // (name, seconds)
    open: HashMap<(String, usize), Bar>,
}

/// What pickling keeps: the timeframes and the open bars.
#[derive(Serialize, Deserialize)]
pub struct BarsState {
    timeframes: Vec<(String, i64)>,
    open: Vec<Bar>,
}

impl Bars {
    pub fn new(timeframes: Vec<(String, i64)>) -> Self {
        Bars { timeframes, open: HashMap::new() }
    }

    pub fn state(&self) -> BarsState {
        BarsState { timeframes: self.timeframes.clone(), open: self.open_now() }
    }

    pub fn from_state(state: BarsState) -> Option<Self> {
        let mut bars = Bars::new(state.timeframes);
        for bar in state.open {
            let tf = bars.timeframes.iter().position(|(n, _)| *n == bar.timeframe)?;
            bars.open.insert((bar.venue.clone(), tf), bar);
        }
        Some(bars)
    }

    /// Add one trade; the bars it closed are appended to `closed`.
    pub fn add(&mut self, ts_recv: i64, venue: &str, price: f64, size: f64, buy: bool, closed: &mut Vec<Bar>) {
        let second = ts_recv.div_euclid(1_000_000_000);
        for tf in 0..self.timeframes.len() {
            let start = second - second.rem_euclid(self.timeframes[tf].1);
            for v in [venue, ALL] {
                let key = (v.to_string(), tf);
                if let Some(bar) = self.open.get(&key) {
                    if bar.start_s != start {
                        closed.push(self.open.remove(&key).unwrap());
                    }
                }
                let name = &self.timeframes[tf].0;
                let bar = self.open.entry(key).or_insert_with(|| Bar {
                    start_s: start,
                    venue: v.to_string(),
                    timeframe: name.clone(),
                    open: price,
                    high: price,
                    low: price,
                    close: price,
                    volume: 0.0,
                    buy_volume: 0.0,
                    sell_volume: 0.0,
                    trades: 0,
                    notional: 0.0,
                });
                bar.high = if price > bar.high { price } else { bar.high }; // Python's max(high, price)
                bar.low = if price < bar.low { price } else { bar.low };
                bar.close = price;
                bar.volume += size;
                if buy {
                    bar.buy_volume += size;
                } else {
                    bar.sell_volume += size;
                }
                bar.trades += 1;
                bar.notional += price * size;
            }
        }
    }

    fn sorted(mut bars: Vec<Bar>) -> Vec<Bar> {
        bars.sort_by(|a, b| (a.start_s, &a.timeframe, &a.venue).cmp(&(b.start_s, &b.timeframe, &b.venue)));
        bars
    }

    /// The bars whose windows end at or before `until_s`, oldest first.
    pub fn close(&mut self, until_s: i64) -> Vec<Bar> {
        let secs: HashMap<&str, i64> = self.timeframes.iter().map(|(n, s)| (n.as_str(), *s)).collect();
        let due: Vec<(String, usize)> = self
            .open
            .iter()
            .filter(|(_, b)| b.start_s + secs[b.timeframe.as_str()] <= until_s)
            .map(|(k, _)| k.clone())
            .collect();
        Self::sorted(due.iter().map(|k| self.open.remove(k).unwrap()).collect())
    }

    /// Copies of the bars still open, in the same order.
    pub fn open_now(&self) -> Vec<Bar> {
        Self::sorted(self.open.values().cloned().collect())
    }
}

//! Bybit v5 (`connectors/bybit.py`):
//!   {"topic":"orderbook.50.BTCUSDT","type":"snapshot"|"delta","ts":..,
//!    "data":{"s":"BTCUSDT","b":[["16493.50","0.006"]],"a":[...],"u":18521288,"seq":7961638724}}
//!   {"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":..,
//!    "data":[{"T":1672304486865,"s":"BTCUSDT","S":"Buy","v":"0.001","p":"16578.50","i":"..."}]}
//! A snapshot, or any frame with u = 1, resets the book at the topic's depth; a delta's
//! prev_seq is u - 1. The v1 frames of old recordings are read by Python.

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{levels, trade, Fallback, Lv, Out, Parsed};
use crate::sync::BookEvent;

#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(borrow)]
    topic: &'a str,
    #[serde(borrow, rename = "type")]
    kind: Option<&'a str>,
    #[serde(borrow)]
    data: &'a RawValue,
}

#[derive(Deserialize)]
struct Book<'a> {
    #[serde(borrow)]
    s: &'a str,
    #[serde(borrow)]
    b: Vec<Lv<'a>>,
    #[serde(borrow)]
    a: Vec<Lv<'a>>,
    u: i64,
}

#[derive(Deserialize)]
struct Trade<'a> {
    #[serde(rename = "T")]
    _t: i64,
    #[serde(borrow)]
    s: &'a str,
    #[serde(borrow, rename = "S")]
    side: &'a str,
    #[serde(borrow)]
    v: &'a str,
    #[serde(borrow)]
    p: &'a str,
    #[serde(rename = "i")]
    _id: IgnoredAny,
}

pub fn parse(payload: &str, wire: &str) -> Parsed {
    let f: Frame = serde_json::from_str(payload)?;
    let (name, rest) = f.topic.split_once('.').ok_or(Fallback)?;
    match name {
        "orderbook" => {
            let (depth, _) = rest.split_once('.').ok_or(Fallback)?;
            let depth: usize = depth.parse().map_err(|_| Fallback)?;
            let d: Book = serde_json::from_str(f.data.get())?;
            if d.s != wire {
                return Err(Fallback);
            }
            let (bids, asks) = (levels(&d.b)?, levels(&d.a)?);
            let snapshot = match f.kind {
                Some("snapshot") => true,
                Some("delta") => d.u == 1,
                _ => return Err(Fallback),
            };
            Ok(vec![Out::Book(if snapshot {
                BookEvent { snapshot, bids, asks, seq: Some(d.u), depth: Some(depth), ..Default::default() }
            } else {
                BookEvent { bids, asks, seq: Some(d.u), prev_seq: Some(d.u - 1), ..Default::default() }
            })])
        }
        "publicTrade" => {
            let trades: Vec<Trade> = serde_json::from_str(f.data.get())?;
            trades
                .iter()
                .map(|t| {
                    if t.s != wire {
                        return Err(Fallback);
                    }
                    let buy = match t.side {
                        "Buy" => true,
                        "Sell" => false,
                        _ => return Err(Fallback),
                    };
                    trade(t.p, t.v, buy)
                })
                .collect()
        }
        _ => Err(Fallback),
    }
}

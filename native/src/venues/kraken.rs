//! Kraken spot websocket v2 `book` and `trade` (`connectors/kraken.py`):
//!   {"channel":"book","type":"snapshot"|"update","data":[{"symbol":"BTC/USD",
//!     "bids":[{"price":45283.5,"qty":0.10000000}],"asks":[{"price":45285.2,"qty":0.00100000}],
//!     "checksum":3310070434,"timestamp":"2022-12-25T19:28:52.109Z"}]}
//!   {"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"sell",
//!     "price":45283.4,"qty":0.5,"ord_type":"market","trade_id":4665906,"timestamp":"..."}]}
//!   {"channel":"heartbeat"}
//! A snapshot alone in its frame also says the pair's decimals as printed (an inferred
//! precision, until an instrument frame says them); the engine prints the checksum tokens
//! with them. Instrument and status frames, and the v1 arrays of old recordings, are read
//! by Python.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{book_level, integer, number, present, trade_of, Fallback, Out, Parsed};
use crate::book::Level;
use crate::sync::BookEvent;

const DEPTHS: [usize; 5] = [10, 25, 100, 500, 1000];

/// One pass over the frame: its items carry the fields of books and trades, optional here,
/// and the channel then says which must be there.
#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(borrow)]
    channel: &'a str,
    #[serde(borrow, rename = "type")]
    kind: Option<&'a str>,
    #[serde(borrow)]
    data: Option<Vec<Item<'a>>>,
}

#[derive(Deserialize)]
struct Item<'a> {
    #[serde(borrow)]
    symbol: &'a str,
    #[serde(borrow)]
    bids: Option<Vec<V2Level<'a>>>,
    #[serde(borrow)]
    asks: Option<Vec<V2Level<'a>>>,
    #[serde(borrow, default, deserialize_with = "present")]
    checksum: Option<&'a RawValue>,
    #[serde(borrow)]
    side: Option<&'a str>,
    #[serde(borrow, default, deserialize_with = "present")]
    price: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    qty: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct V2Level<'a> {
    #[serde(borrow)]
    price: &'a RawValue,
    #[serde(borrow)]
    qty: &'a RawValue,
}

fn levels(raw: &[V2Level]) -> Result<Vec<Level>, Fallback> {
    raw.iter()
        .map(|l| {
            let (p, q) = (number(l.price)?, number(l.qty)?);
            book_level(p, q)
        })
        .collect()
}

/// The most decimals among the number literals after `"<key>":` anywhere in the frame
/// (Python: `_decimals(re.findall(r'"<key>":\s*([-0-9.eE+]+)', text))`, Decimal exponents).
fn decimals(text: &str, key: &str) -> Result<u32, Fallback> {
    let b = text.as_bytes();
    let pat = format!("\"{key}\":");
    let mut most = 0i64;
    let mut from = 0;
    while let Some(at) = text[from..].find(&pat) {
        let mut i = from + at + pat.len();
        while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
            i += 1;
        }
        let start = i;
        while i < b.len() && matches!(b[i], b'-' | b'0'..=b'9' | b'.' | b'e' | b'E' | b'+') {
            i += 1;
        }
        if i > start {
            let lit = &text[start..i];
            let (mant, exp) = match lit.find(['e', 'E']) {
                Some(k) => (&lit[..k], lit[k + 1..].parse::<i64>().map_err(|_| Fallback)?),
                None => (lit, 0),
            };
            let frac = mant.split_once('.').map_or(0, |(_, f)| f.len()) as i64;
            most = most.max(frac - exp);
        }
        from = i.max(from + at + 1);
    }
    u32::try_from(most).map_err(|_| Fallback)
}

pub fn parse(payload: &str, wire: &str) -> Parsed {
    let f: Frame = serde_json::from_str(payload)?;
    let Some(items) = f.data else {
        return if f.channel == "heartbeat" { Ok(Vec::new()) } else { Err(Fallback) };
    };
    match (f.channel, f.kind) {
        ("book", Some(kind @ ("snapshot" | "update"))) => {
            let snapshot = kind == "snapshot";
            let mut out = Vec::with_capacity(items.len() + 1);
            for it in &items {
                let (Some(bids), Some(asks)) = (&it.bids, &it.asks) else { return Err(Fallback) };
                if it.symbol != wire {
                    return Err(Fallback);
                }
                let (bids, asks) = (levels(bids)?, levels(asks)?);
                let checksum = it.checksum.map(integer).transpose()?;
                if snapshot && items.len() == 1 {
                    out.push(Out::Precision {
                        price: decimals(payload, "price")?,
                        size: decimals(payload, "qty")?,
                        inferred: true,
                    });
                }
                let depth = snapshot.then(|| {
                    let n = bids.len().max(asks.len());
                    *DEPTHS.iter().find(|&&d| d >= n).unwrap_or(&DEPTHS[DEPTHS.len() - 1])
                });
                out.push(Out::Book(BookEvent { snapshot, bids, asks, checksum, depth, ..Default::default() }));
            }
            Ok(out)
        }
        ("trade", Some("snapshot")) => Ok(Vec::new()), // trades from before we subscribed
        ("trade", Some("update")) => items
            .iter()
            .map(|t| {
                let (Some(side), Some(price), Some(qty)) = (t.side, t.price, t.qty) else { return Err(Fallback) };
                let (price, size) = (number(price)?, number(qty)?);
                let buy = match side {
                    "buy" => true,
                    "sell" => false,
                    _ => return Err(Fallback),
                };
                if t.symbol != wire {
                    return Err(Fallback);
                }
                trade_of(price, size, buy)
            })
            .collect(),
        _ => Err(Fallback),
    }
}

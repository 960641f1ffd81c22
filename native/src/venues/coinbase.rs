//! Coinbase Advanced Trade (`connectors/coinbase.py`):
//!   {"channel":"l2_data","client_id":"","timestamp":"..","sequence_num":0,
//!    "events":[{"type":"snapshot"|"update","product_id":"BTC-USD",
//!      "updates":[{"side":"bid"|"offer","event_time":"..","price_level":"21921.73","new_quantity":"0.06"}]}]}
//!   {"channel":"market_trades",..,"events":[{"type":"update","trades":[{"trade_id":"1",
//!      "product_id":"ETH-USD","price":"1260.01","size":"0.3","side":"BUY","time":".."}]}]}
//! `sequence_num` is each frame's seq; trade snapshots (before we subscribed) are skipped.
//! The legacy Exchange feed of old recordings is read by Python.

use serde::de::IgnoredAny;
use serde::Deserialize;

use super::{level, trade, Fallback, Out, Parsed};
use crate::book::Level;
use crate::sync::BookEvent;

/// One pass over the frame: the events carry the fields of both channels, optional here,
/// and the channel then says which must be there.
#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(borrow)]
    channel: &'a str,
    sequence_num: i64,
    #[serde(borrow)]
    events: Vec<Event<'a>>,
}

#[derive(Deserialize)]
struct Event<'a> {
    #[serde(borrow, rename = "type")]
    kind: &'a str,
    #[serde(borrow)]
    product_id: Option<&'a str>,
    #[serde(borrow)]
    updates: Option<Vec<Update<'a>>>,
    #[serde(borrow)]
    trades: Option<Vec<Trade<'a>>>,
}

#[derive(Deserialize)]
struct Update<'a> {
    #[serde(borrow)]
    side: &'a str,
    #[serde(borrow)]
    price_level: &'a str,
    #[serde(borrow)]
    new_quantity: &'a str,
}

#[derive(Deserialize)]
struct Trade<'a> {
    #[serde(rename = "trade_id")]
    _trade_id: IgnoredAny,
    #[serde(borrow)]
    product_id: &'a str,
    #[serde(borrow)]
    price: &'a str,
    #[serde(borrow)]
    size: &'a str,
    #[serde(borrow)]
    side: &'a str,
}

pub fn parse(payload: &str, wire: &str) -> Parsed {
    let f: Frame = serde_json::from_str(payload)?;
    match f.channel {
        "l2_data" => f
            .events
            .iter()
            .map(|ev| {
                let (Some(product_id), Some(updates)) = (ev.product_id, ev.updates.as_ref()) else {
                    return Err(Fallback);
                };
                if product_id != wire {
                    return Err(Fallback);
                }
                let snapshot = match ev.kind {
                    "snapshot" => true,
                    "update" => false,
                    _ => return Err(Fallback),
                };
                let (mut bids, mut asks): (Vec<Level>, Vec<Level>) = (Vec::new(), Vec::new());
                for u in updates {
                    let lv = level(u.price_level, u.new_quantity)?;
                    match u.side {
                        "bid" => bids.push(lv),
                        "offer" | "ask" => asks.push(lv),
                        _ => return Err(Fallback),
                    }
                }
                Ok(Out::Book(BookEvent { snapshot, bids, asks, seq: Some(f.sequence_num), ..Default::default() }))
            })
            .collect(),
        "market_trades" => {
            let mut out = Vec::new();
            for ev in &f.events {
                if ev.kind != "update" {
                    continue;
                }
                for t in ev.trades.as_ref().ok_or(Fallback)? {
                    if t.product_id != wire {
                        return Err(Fallback);
                    }
                    let buy = match t.side {
                        "BUY" | "buy" => true,
                        "SELL" | "sell" => false,
                        _ => return Err(Fallback),
                    };
                    out.push(trade(t.price, t.size, buy)?);
                }
            }
            Ok(out)
        }
        _ => Err(Fallback),
    }
}

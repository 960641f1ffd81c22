//! OKX v5 (`connectors/okx.py`):
//!   {"arg":{"channel":"books","instId":"BTC-USDT"},"action":"snapshot"|"update",
//!    "data":[{"asks":[["41006.8","0.60038921","0","1"]],"bids":[...],"ts":"..",
//!             "checksum":-1208584718,"prevSeqId":-1,"seqId":123456}]}
//!   {"arg":{"channel":"trades","instId":"BTC-USDT"},
//!    "data":[{"instId":"BTC-USDT","tradeId":"1","px":"42219.9","sz":"0.1","side":"buy","ts":".."}]}
//! Each level keeps its token "price:size" as printed, for the CRC32 checksum of the best 25.
//! Other channels (books5, bbo-tbt, ...) are read by Python.

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{levels_with_tokens, trade, Fallback, Lv, Out, Parsed};
use crate::sync::BookEvent;

#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(borrow)]
    arg: Arg<'a>,
    #[serde(borrow)]
    action: Option<&'a str>,
    #[serde(borrow)]
    data: &'a RawValue,
}

#[derive(Deserialize)]
struct Arg<'a> {
    #[serde(borrow)]
    channel: &'a str,
    #[serde(borrow, rename = "instId")]
    inst_id: &'a str,
}

#[derive(Deserialize)]
struct Book<'a> {
    #[serde(borrow)]
    bids: Vec<Lv<'a>>,
    #[serde(borrow)]
    asks: Vec<Lv<'a>>,
    checksum: Option<i64>,
    #[serde(rename = "seqId")]
    seq_id: Option<i64>,
    #[serde(rename = "prevSeqId")]
    prev_seq_id: Option<i64>,
}

#[derive(Deserialize)]
struct Trade<'a> {
    #[serde(borrow, rename = "instId")]
    inst_id: &'a str,
    #[serde(rename = "tradeId")]
    _trade_id: IgnoredAny,
    #[serde(borrow)]
    px: &'a str,
    #[serde(borrow)]
    sz: &'a str,
    #[serde(borrow)]
    side: &'a str,
    #[serde(borrow)]
    ts: &'a str,
}

pub fn parse(payload: &str, wire: &str) -> Parsed {
    let f: Frame = serde_json::from_str(payload)?;
    if f.arg.inst_id != wire {
        return Err(Fallback);
    }
    match f.arg.channel {
        "books" | "books-l2-tbt" | "books50-l2-tbt" => {
            let snapshot = match f.action {
                Some("snapshot") | None => true,
                Some("update") => false,
                _ => return Err(Fallback),
            };
            let items: Vec<Book> = serde_json::from_str(f.data.get())?;
            items
                .into_iter()
                .map(|it| {
                    let (bids, bid_tokens) = levels_with_tokens(&it.bids)?;
                    let (asks, ask_tokens) = levels_with_tokens(&it.asks)?;
                    Ok(Out::Book(BookEvent {
                        snapshot,
                        bids,
                        asks,
                        bid_tokens: Some(bid_tokens),
                        ask_tokens: Some(ask_tokens),
                        seq: it.seq_id,
                        prev_seq: if snapshot { None } else { it.prev_seq_id },
                        checksum: it.checksum,
                        depth: None,
                    }))
                })
                .collect()
        }
        "trades" => {
            let trades: Vec<Trade> = serde_json::from_str(f.data.get())?;
            trades
                .iter()
                .map(|t| {
                    t.ts.parse::<i64>().map_err(|_| Fallback)?;
                    if t.inst_id != wire {
                        return Err(Fallback);
                    }
                    match t.side {
                        "buy" => trade(t.px, t.sz, true),
                        "sell" => trade(t.px, t.sz, false),
                        _ => Err(Fallback),
                    }
                })
                .collect()
        }
        _ => Err(Fallback),
    }
}

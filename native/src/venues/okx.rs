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

use super::{levels_with_tokens, trade, Fallback, Lv, Out, Parsed};
use crate::sync::BookEvent;

/// One pass over the frame: its items carry the fields of books and trades, optional here,
/// and the channel then says which must be there.
#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(borrow)]
    arg: Arg<'a>,
    #[serde(borrow)]
    action: Option<&'a str>,
    #[serde(borrow)]
    data: Vec<Item<'a>>,
}

#[derive(Deserialize)]
struct Arg<'a> {
    #[serde(borrow)]
    channel: &'a str,
    #[serde(borrow, rename = "instId")]
    inst_id: &'a str,
}

#[derive(Deserialize)]
struct Item<'a> {
    #[serde(borrow)]
    bids: Option<Vec<Lv<'a>>>,
    #[serde(borrow)]
    asks: Option<Vec<Lv<'a>>>,
    checksum: Option<i64>,
    #[serde(rename = "seqId")]
    seq_id: Option<i64>,
    #[serde(rename = "prevSeqId")]
    prev_seq_id: Option<i64>,
    #[serde(borrow, rename = "instId")]
    inst_id: Option<&'a str>,
    #[serde(rename = "tradeId")]
    trade_id: Option<IgnoredAny>,
    #[serde(borrow)]
    px: Option<&'a str>,
    #[serde(borrow)]
    sz: Option<&'a str>,
    #[serde(borrow)]
    side: Option<&'a str>,
    #[serde(borrow)]
    ts: Option<&'a str>,
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
            f.data
                .into_iter()
                .map(|it| {
                    let (Some(bids), Some(asks)) = (it.bids, it.asks) else { return Err(Fallback) };
                    let (bids, bid_tokens) = levels_with_tokens(&bids)?;
                    let (asks, ask_tokens) = levels_with_tokens(&asks)?;
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
        "trades" => f
            .data
            .iter()
            .map(|t| {
                let (Some(inst_id), Some(_), Some(px), Some(sz), Some(side), Some(ts)) =
                    (t.inst_id, t.trade_id.as_ref(), t.px, t.sz, t.side, t.ts)
                else {
                    return Err(Fallback);
                };
                ts.parse::<i64>().map_err(|_| Fallback)?;
                if inst_id != wire {
                    return Err(Fallback);
                }
                match side {
                    "buy" => trade(px, sz, true),
                    "sell" => trade(px, sz, false),
                    _ => Err(Fallback),
                }
            })
            .collect(),
        _ => Err(Fallback),
    }
}

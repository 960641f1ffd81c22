//! HTX spot websocket, every frame gzip-compressed JSON (`connectors/htx.py`; CAPTURE.md
//! keeps binary frames as base64, encoding "base64-gzip"):
//!   {"ch":"market.btcusdt.mbp.150","ts":1573199608679,
//!    "tick":{"seqNum":100020146795,"prevSeqNum":100020146794,"bids":[[618.37,71.594]],"asks":[[621.5,0]]}}
//!   {"ch":"market.btcusdt.mbp.refresh.20","ts":..,"tick":{"seqNum":..,"bids":..,"asks":..}}
//!   {"ch":"market.btcusdt.trade.detail","ts":..,"tick":{"id":..,"ts":..,"data":[{"id":..,
//!    "ts":1630994963173,"tradeId":102523573486,"amount":0.006754,"price":52648.62,"direction":"buy"}]}}
//! Snapshot replies (`rep`), pings, the depth.step0 refreshes of older recordings and
//! anything not decoded exactly as Python would are read by Python.

use std::cell::RefCell;

use base64::Engine as _;
use flate2::{Decompress, FlushDecompress, Status};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{book_level, integer, number, present, trade_of, Fallback, Out, Parsed};
use crate::book::Level;
use crate::sync::BookEvent;

/// One pass over the frame: the tick carries the fields of book and trade frames, optional
/// here, and the channel then says which must be there.
#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(borrow)]
    ch: &'a str,
    #[serde(borrow, default, deserialize_with = "present")]
    rep: Option<&'a RawValue>,
    #[serde(borrow)]
    tick: Tick<'a>,
}

#[derive(Deserialize)]
struct Tick<'a> {
    #[serde(borrow, default)]
    bids: Vec<Vec<&'a RawValue>>,
    #[serde(borrow, default)]
    asks: Vec<Vec<&'a RawValue>>,
    #[serde(borrow, rename = "seqNum", default, deserialize_with = "present")]
    seq: Option<&'a RawValue>,
    #[serde(borrow, rename = "prevSeqNum", default, deserialize_with = "present")]
    prev_seq: Option<&'a RawValue>,
    #[serde(borrow)]
    data: Option<Vec<Trade<'a>>>,
}

#[derive(Deserialize)]
struct Trade<'a> {
    #[serde(borrow)]
    price: &'a RawValue,
    #[serde(borrow)]
    amount: &'a RawValue,
    #[serde(borrow)]
    direction: &'a str,
    #[serde(borrow)]
    ts: &'a RawValue,
}

thread_local! {
    /// The inflate state and buffers, reused: a fresh decoder per frame costs more than the
    /// frame (its window is allocated and cleared each time).
    static SCRATCH: RefCell<(Decompress, Vec<u8>)> = RefCell::new((Decompress::new(false), Vec::new()));
}

/// base64, then one whole gzip member (RFC 1952, CRC32 and size checked), then UTF-8:
/// anything less clean is left to Python to judge.
fn gunzip(payload: &str) -> Result<String, Fallback> {
    SCRATCH.with(|cell| {
        let (inflate, bytes) = &mut *cell.borrow_mut();
        bytes.clear();
        base64::engine::general_purpose::STANDARD.decode_vec(payload, bytes).map_err(|_| Fallback)?;
        let b = &bytes[..];
        if b.len() < 18 || b[0] != 0x1f || b[1] != 0x8b || b[2] != 8 || b[3] & 0xe0 != 0 {
            return Err(Fallback);
        }
        let flags = b[3];
        let mut at = 10;
        if flags & 4 != 0 {
            // FEXTRA: a 2-byte length, then that many bytes
            let n = *b.get(at).ok_or(Fallback)? as usize | (*b.get(at + 1).ok_or(Fallback)? as usize) << 8;
            at += 2 + n;
        }
        for flag in [8u8, 16] {
            // FNAME, FCOMMENT: zero-terminated
            if flags & flag != 0 {
                at += b.get(at..).ok_or(Fallback)?.iter().position(|&c| c == 0).ok_or(Fallback)? + 1;
            }
        }
        if flags & 2 != 0 {
            at += 2; // FHCRC
        }
        if at + 8 > b.len() {
            return Err(Fallback);
        }
        let (body, trailer) = (&b[at..b.len() - 8], &b[b.len() - 8..]);
        let crc = u32::from_le_bytes(trailer[..4].try_into().unwrap());
        let size = u32::from_le_bytes(trailer[4..].try_into().unwrap()) as usize;
        let mut out = Vec::with_capacity(size.min(1 << 24) + 1);
        inflate.reset(false);
        let status = inflate.decompress_vec(body, &mut out, FlushDecompress::Finish).map_err(|_| Fallback)?;
        // the member must end exactly before its trailer, and its data match the trailer
        if status != Status::StreamEnd || inflate.total_in() as usize != body.len() || out.len() != size
            || crc32fast::hash(&out) != crc
        {
            return Err(Fallback);
        }
        String::from_utf8(out).map_err(|_| Fallback)
    })
}

fn levels(raw: &[Vec<&RawValue>]) -> Result<Vec<Level>, Fallback> {
    raw.iter()
        .map(|lv| {
            let [p, q, ..] = lv[..] else { return Err(Fallback) };
            let (p, q) = (number(p)?, number(q)?);
            book_level(p, q)
        })
        .collect()
}

pub fn parse(payload: &str, wire: &str) -> Parsed {
    let text = gunzip(payload)?;
    let f: Frame = serde_json::from_str(&text)?;
    if f.rep.is_some() {
        return Err(Fallback);
    }
    let mut parts = f.ch.split('.');
    if parts.next() != Some("market") || parts.next() != Some(wire) {
        return Err(Fallback);
    }
    let (ch, t) = (f.ch, f.tick);
    if ch.contains(".mbp.") {
        let (bids, asks) = (levels(&t.bids)?, levels(&t.asks)?);
        let seq = Some(integer(t.seq.ok_or(Fallback)?)?);
        let snapshot = ch.contains(".mbp.refresh.");
        let prev_seq = match (snapshot, t.prev_seq) {
            (true, _) => None,
            (false, Some(p)) => Some(integer(p)?),
            (false, None) => return Err(Fallback),
        };
        return Ok(vec![Out::Book(BookEvent { snapshot, bids, asks, seq, prev_seq, ..Default::default() })]);
    }
    if ch.ends_with(".trade.detail") && !ch.contains(".depth.") {
        return t
            .data
            .ok_or(Fallback)?
            .iter()
            .map(|t| {
                let (price, size) = (number(t.price)?, number(t.amount)?);
                integer(t.ts)?;
                let buy = match t.direction {
                    "buy" => true,
                    "sell" => false,
                    _ => return Err(Fallback),
                };
                trade_of(price, size, buy)
            })
            .collect();
    }
    Err(Fallback)
}

//! Bitfinex v2 `book` P0 and `trades` with SEQ_ALL numbers (`connectors/bitfinex.py`):
//!   [232955,[[7254.7,3,3.3],[7254.8,1,-0.5]],12]       snapshot: [price, count, amount]
//!   [232955,[7254.7,0,1],13]                            update; count 0 deletes (amount 1 bids, -1 asks)
//!   [232955,"cs",-1566224542,14]                        checksum of the book
//!   [232959,"te",[401597395,1574694478808,0.005,7245.3],15]   trade: [id, ms, amount, price]
//!   [232955,"hb",16]                                    heartbeat
//! Frames carry only a channel id: the envelope symbol is their market. Numbers are JSON
//! numbers; each level's checksum token is printed as JavaScript prints numbers
//! (`js_number`). Events, trade snapshots, `tu` and ticker frames are read by Python.

use serde_json::value::RawValue;

use super::{book_level, integer, is_int_literal, number, trade_of, Fallback, Out, Parsed};
use crate::book::Level;
use crate::sync::BookEvent;

/// Python's `int(d[-1]) if len(d) >= 3 and isinstance(d[-1], int) else None`.
fn trailing_seq(d: &[&RawValue]) -> Result<Option<i64>, Fallback> {
    if d.len() < 3 {
        return Ok(None);
    }
    let t = d[d.len() - 1].get();
    match t.as_bytes().first() {
        Some(b't' | b'f') => Err(Fallback), // a bool is an int to Python
        Some(b'-' | b'0'..=b'9') if is_int_literal(t)? => Ok(Some(integer(d[d.len() - 1])?)),
        _ => Ok(None),
    }
}

/// JavaScript's Number.prototype.toString (ECMA-262 Number::toString): the shortest digits
/// that read back as x, the closest of them to x and ties even (ryu gives them, as Python's
/// repr does), laid out in plain decimal for 1e-6 <= |x| < 1e21, else as d.ddde+n / d.ddde-n.
pub fn js_number(x: f64, out: &mut String) {
    if x == 0.0 {
        out.push('0'); // also -0
        return;
    }
    if !x.is_finite() {
        out.push_str(if x.is_nan() { "NaN" } else if x > 0.0 { "Infinity" } else { "-Infinity" });
        return;
    }
    let mut buf = ryu::Buffer::new();
    let text = buf.format_finite(x.abs()); // "7254.7", "1e-7", "1.5e22", "100.0"
    let (mant, exp) = match text.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (text, 0),
    };
    let (whole, frac) = mant.split_once('.').unwrap_or((mant, ""));
    let all = format!("{whole}{frac}");
    let lead = all.len() - all.trim_start_matches('0').len();
    let digits = all.trim_start_matches('0').trim_end_matches('0');
    let n = whole.len() as i32 + exp - lead as i32; // x = 0.DIGITS * 10^n
    let k = digits.len() as i32;
    if x < 0.0 {
        out.push('-');
    }
    if k <= n && n <= 21 {
        out.push_str(digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        out.push_str(&digits[..n as usize]);
        out.push('.');
        out.push_str(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(digits);
    } else {
        out.push_str(&digits[..1]);
        if k > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let e = n - 1;
        out.push('e');
        out.push(if e > 0 { '+' } else { '-' });
        out.push_str(&e.abs().to_string());
    }
}

/// A level's checksum token: "price:amount", asks with their negative amounts.
pub fn token(price: f64, size: f64, is_bid: bool) -> String {
    let mut t = String::with_capacity(24);
    js_number(price, &mut t);
    t.push(':');
    js_number(if is_bid { size } else { -size }, &mut t);
    t
}

/// Sides and checksum tokens of book entries [price, count, amount] (`_book_levels`).
fn book_levels(entries: &[&RawValue], snapshot: bool, seq: Option<i64>) -> Result<BookEvent, Fallback> {
    let (mut bids, mut asks): (Vec<Level>, Vec<Level>) = (Vec::new(), Vec::new());
    for e in entries {
        let f: Vec<&RawValue> = serde_json::from_str(e.get())?;
        let [price, count, amount] = f[..] else { return Err(Fallback) };
        let (price, count, amount) = (number(price)?, integer(count)?, number(amount)?);
        if count > 0 {
            if amount > 0.0 { bids.push((price, amount.abs())) } else { asks.push((price, amount.abs())) }
        } else if amount == 1.0 {
            bids.push((price, 0.0));
        } else if amount == -1.0 {
            asks.push((price, 0.0));
        } else {
            return Err(Fallback);
        }
    }
    for &(p, q) in bids.iter().chain(asks.iter()) {
        book_level(p, q)?;
    }
    let bid_tokens = bids.iter().map(|&(p, q)| token(p, q, true)).collect();
    let ask_tokens = asks.iter().map(|&(p, q)| token(p, q, false)).collect();
    Ok(BookEvent {
        snapshot,
        bids,
        asks,
        bid_tokens: Some(bid_tokens),
        ask_tokens: Some(ask_tokens),
        seq,
        ..Default::default()
    })
}

pub fn parse(payload: &str) -> Parsed {
    let d: Vec<&RawValue> = serde_json::from_str(payload)?;
    if d.len() < 2 {
        return Err(Fallback);
    }
    let body = d[1].get();
    if body == "\"hb\"" {
        return Ok(Vec::new());
    }
    let seq = trailing_seq(&d)?;
    match body.as_bytes().first() {
        Some(b'"') => match body {
            "\"cs\"" => {
                let checksum = integer(d.get(2).ok_or(Fallback)?)?;
                let mut ev = book_levels(&[], false, seq)?;
                ev.checksum = Some(checksum);
                Ok(vec![Out::Book(ev)])
            }
            "\"te\"" => {
                let t: Vec<&RawValue> = serde_json::from_str(d.get(2).ok_or(Fallback)?.get())?;
                if t.len() < 4 {
                    return Err(Fallback);
                }
                integer(t[1])?; // int(ms)
                let (amount, price) = (number(t[2])?, number(t[3])?);
                Ok(vec![trade_of(price, amount.abs(), amount > 0.0)?])
            }
            "\"tu\"" => Ok(Vec::new()),
            _ => Err(Fallback),
        },
        Some(b'[') => {
            let entries: Vec<&RawValue> = serde_json::from_str(body)?;
            match entries.first().map(|e| e.get().as_bytes()[0]) {
                None => Ok(vec![Out::Book(book_levels(&[], true, seq)?)]), // an empty book
                Some(b'[') => Ok(vec![Out::Book(book_levels(&entries, true, seq)?)]), // trade snapshots: Fallback
                Some(_) if entries.len() == 3 => Ok(vec![Out::Book(book_levels(&[d[1]], false, seq)?)]),
                Some(_) => Err(Fallback),
            }
        }
        _ => Err(Fallback),
    }
}

//! Venue frame parsers for the frames a feed sends all day. Each is the twin of the venue's
//! Python `parse` for those frames only: anything else (another shape, a bad value, a
//! control frame) is `Fallback`, and the Python parser, the reference, reads it instead.
//! So a native parser may be narrow, never different.

pub mod binance;
pub mod bitfinex;
pub mod bybit;
pub mod coinbase;
pub mod htx;
pub mod kraken;
pub mod okx;

use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::book::Level;
use crate::sync::{BookEvent, Venue};

/// What a frame carries for its market.
pub enum Out {
    Book(BookEvent),
    Trade { price: f64, size: f64, buy: bool },
    /// The pair's decimals (Kraken v2 prints its checksum levels with them).
    Precision { price: u32, size: u32, inferred: bool },
}

/// The frame is not one the native parser reads: hand it to the Python parser.
pub struct Fallback;

pub type Parsed = Result<Vec<Out>, Fallback>;

impl<E: de::Error> From<E> for Fallback {
    fn from(_: E) -> Self {
        Fallback
    }
}

/// A price level as printed: the first two strings of its array, the rest ignored.
pub struct Lv<'a>(pub &'a str, pub &'a str);

impl<'de: 'a, 'a> Deserialize<'de> for Lv<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Lv<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("[price, size, ...]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Lv<'de>, A::Error> {
                let p: &str = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let q: &str = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(1, &self))?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Lv(p, q))
            }
        }
        d.deserialize_seq(V)
    }
}

/// A number as Python's `float(text)` reads it, when Rust reads it the same way.
pub fn num(text: &str) -> Result<f64, Fallback> {
    let b = text.as_bytes();
    // Python also takes spaces and underscores; Rust does not: leave those to Python
    if b.is_empty() || !b.iter().all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'-' | b'+' | b'e' | b'E')) {
        return Err(Fallback);
    }
    text.parse::<f64>().map_err(|_| Fallback)
}

// -- venues that print numbers as JSON numbers (Bitfinex, Kraken v2) --------------------
/// A JSON number literal as Python reads it after orjson: an integer literal (within 64
/// bits, as orjson takes them) converted to float, or a float literal. Anything else
/// (strings, booleans, a non-finite value) is left to Python.
pub fn number(v: &RawValue) -> Result<f64, Fallback> {
    let t = v.get();
    let x = if is_int_literal(t)? { int_literal(t)? as f64 } else { t.parse::<f64>().map_err(|_| Fallback)? };
    if x.is_finite() { Ok(x) } else { Err(Fallback) }
}

/// Ok(true) for an integer literal, Ok(false) for another number literal, else Fallback.
pub fn is_int_literal(t: &str) -> Result<bool, Fallback> {
    match t.as_bytes().first() {
        Some(b'-' | b'0'..=b'9') => Ok(!t.bytes().any(|c| matches!(c, b'.' | b'e' | b'E'))),
        _ => Err(Fallback),
    }
}

fn int_literal(t: &str) -> Result<i128, Fallback> {
    // orjson reads integers of up to 64 bits (signed or unsigned); Python then has them exactly
    let x: i128 = t.parse().map_err(|_| Fallback)?;
    if x < i64::MIN as i128 || x > u64::MAX as i128 {
        return Err(Fallback);
    }
    Ok(x)
}

/// An integer field (`int(x)` of an int): integer literals only.
pub fn integer(v: &RawValue) -> Result<i64, Fallback> {
    let t = v.get();
    if !is_int_literal(t)? {
        return Err(Fallback);
    }
    i64::try_from(int_literal(t)?).map_err(|_| Fallback)
}

/// A level a book may hold (`check_levels`): 0 < price < inf, 0 <= size < inf.
pub fn level(p: &str, q: &str) -> Result<Level, Fallback> {
    book_level(num(p)?, num(q)?)
}

/// `check_levels` on numbers already read: 0 < price < inf, 0 <= size < inf.
pub fn book_level(p: f64, q: f64) -> Result<Level, Fallback> {
    if p > 0.0 && p < f64::INFINITY && (0.0..f64::INFINITY).contains(&q) {
        Ok((p, q))
    } else {
        Err(Fallback)
    }
}

pub fn levels(raw: &[Lv]) -> Result<Vec<Level>, Fallback> {
    raw.iter().map(|l| level(l.0, l.1)).collect()
}

/// Levels and their checksum tokens "price:size" as printed (OKX).
pub fn levels_with_tokens(raw: &[Lv]) -> Result<(Vec<Level>, Vec<String>), Fallback> {
    let lv = levels(raw)?;
    let tokens = raw.iter().map(|l| format!("{}:{}", l.0, l.1)).collect();
    Ok((lv, tokens))
}

/// A trade `positive_trade` accepts: finite, positive price and size.
pub fn trade(price: &str, size: &str, buy: bool) -> Result<Out, Fallback> {
    trade_of(num(price)?, num(size)?, buy)
}

/// `positive_trade` on numbers already read.
pub fn trade_of(price: f64, size: f64, buy: bool) -> Result<Out, Fallback> {
    if price.is_finite() && size.is_finite() && price > 0.0 && size > 0.0 {
        Ok(Out::Trade { price, size, buy })
    } else {
        Err(Fallback)
    }
}

/// A field that, when present, must be read (null included): `Option` would take a null
/// for an absent field, where Python would fail on it.
pub fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// Parse one frame of `venue` for the market the venue prints as `wire` (the frame must be
/// about that market alone).
pub fn parse(venue: Venue, payload: &str, wire: &str) -> Parsed {
    match venue {
        Venue::Binance => binance::parse(payload, wire),
        Venue::Bitfinex => bitfinex::parse(payload), // frames name only a channel: the envelope is the market
        Venue::Bybit => bybit::parse(payload, wire),
        Venue::Coinbase => coinbase::parse(payload, wire),
        Venue::Htx => htx::parse(payload, wire), // base64 of the gzip bytes
        Venue::Kraken => kraken::parse(payload, wire),
        Venue::Okx => okx::parse(payload, wire),
    }
}

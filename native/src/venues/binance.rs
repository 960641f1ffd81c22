//! Binance spot combined streams (`connectors/binance.py`):
//!   {"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":..,"s":"BTCUSDT","U":157,"u":160,
//!    "b":[["0.0024","10"]],"a":[["0.0026","100"]]}}
//!   {"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","s":"BTCUSDT","a":12345,"p":"0.001",
//!    "q":"100","T":1672515782136,"m":true,...}}
//! A delta's prev_seq is U - 1, its seq u; `m` true: the buyer was the maker, the taker sold.
//! REST snapshots and raw (uncombined) events are read by Python.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{levels, trade, Fallback, Lv, Out, Parsed};
use crate::sync::BookEvent;

#[derive(Deserialize)]
struct Combined<'a> {
    #[serde(borrow, rename = "stream")]
    _stream: &'a str,
    #[serde(borrow)]
    data: Event<'a>,
}

#[derive(Deserialize)]
struct Event<'a> {
    #[serde(borrow)]
    e: &'a str,
    #[serde(borrow)]
    s: &'a str,
    #[serde(rename = "U")]
    first: Option<i64>,
    u: Option<i64>,
    #[serde(borrow)]
    b: Option<Vec<Lv<'a>>>,
    #[serde(borrow)]
    a: Option<&'a RawValue>, // asks in a depthUpdate, the trade id in an aggTrade
    #[serde(borrow)]
    p: Option<&'a str>,
    #[serde(borrow)]
    q: Option<&'a str>,
    m: Option<bool>,
    #[serde(rename = "T")]
    t: Option<i64>,
}

pub fn parse(payload: &str, wire: &str) -> Parsed {
    let f: Combined = serde_json::from_str(payload)?;
    let d = f.data;
    if d.s != wire {
        return Err(Fallback);
    }
    match d.e {
        "depthUpdate" => {
            let (Some(first), Some(last), Some(b), Some(a)) = (d.first, d.u, d.b, d.a) else {
                return Err(Fallback);
            };
            let asks: Vec<Lv> = serde_json::from_str(a.get())?;
            Ok(vec![Out::Book(BookEvent {
                bids: levels(&b)?,
                asks: levels(&asks)?,
                seq: Some(last),
                prev_seq: Some(first - 1),
                ..Default::default()
            })])
        }
        "aggTrade" => {
            let (Some(p), Some(q), Some(m), Some(_), Some(_)) = (d.p, d.q, d.m, d.a, d.t) else {
                return Err(Fallback);
            };
            Ok(vec![trade(p, q, !m)?])
        }
        _ => Err(Fallback),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WIRE: &str = "BTCUSDT";

    #[test]
    fn a_depth_update_continues_from_u_minus_one() {
        let f = r#"{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":157,"u":160,
                   "b":[["0.0024","10"]],"a":[["0.0026","100"],["0.0027","0"]]}}"#;
        let Ok(out) = parse(f, WIRE) else { panic!("a depthUpdate the native parser must read") };
        let [Out::Book(ev)] = out.as_slice() else { panic!("one book event") };
        assert_eq!((ev.seq, ev.prev_seq, ev.snapshot), (Some(160), Some(156), false));
        assert_eq!(ev.bids, vec![(0.0024, 10.0)]);
        assert_eq!(ev.asks, vec![(0.0026, 100.0), (0.0027, 0.0)]);
    }

    #[test]
    fn an_agg_trade_with_the_buyer_as_maker_is_a_sell() {
        let f = r#"{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":1,"s":"BTCUSDT","a":12345,
                   "p":"0.001","q":"100","f":100,"l":105,"T":1,"m":true,"M":true}}"#;
        let Ok(out) = parse(f, WIRE) else { panic!("an aggTrade the native parser must read") };
        let [Out::Trade { price, size, buy }] = out.as_slice() else { panic!("one trade") };
        assert_eq!((*price, *size, *buy), (0.001, 100.0, false));
    }

    #[test]
    fn frames_of_another_market_or_shape_go_to_python() {
        let other = r#"{"stream":"x","data":{"e":"aggTrade","s":"ETHUSDT","a":1,"p":"1","q":"1","T":1,"m":true}}"#;
        assert!(parse(other, WIRE).is_err());
        assert!(parse(r#"{"result":null,"id":1}"#, WIRE).is_err());
        assert!(parse("not json", WIRE).is_err());
    }
}

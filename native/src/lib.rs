//! `cobflow._native`: venue books parsed and kept in sync in Rust, one market each, fed a
//! second's frames at a time; the consolidated book's buckets over them; OHLCV bars; and
//! capture lines read into raw messages. `cobflow/native.py` is the Python face of it and decides when it
//! is used; the Python code stays the reference (tests hold the two equal).

mod bars;
mod book;
mod buckets;
mod capture;
mod ilp;
mod kafka;
mod records;
mod sync;
mod venues;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use book::{Level, Side};
use sync::{BookEvent, Engine, Venue};
use venues::Out;

/// Each side's levels as printed, (bids, asks) of [(price, size)].
type TextSides = (Vec<(String, String)>, Vec<(String, String)>);
/// One side: prices ascending, their sizes, their checksum tokens (None without).
type SideLevels = (Vec<f64>, Vec<f64>, Option<Vec<String>>);

#[pyclass(module = "cobflow._native")]
struct NativeBook {
    engine: Engine,
    wire: String,
}

fn side_bytes<'py>(py: Python<'py>, side: &Side) -> (Bound<'py, PyBytes>, Bound<'py, PyBytes>) {
    let as_bytes = |v: &[f64]| PyBytes::new(py, &v.iter().flat_map(|x| x.to_ne_bytes()).collect::<Vec<u8>>());
    (as_bytes(&side.prices), as_bytes(&side.sizes))
}

#[pymethods]
impl NativeBook {
    /// A book for one market of `venue`, whose frames print the market as `wire`.
    #[new]
    fn new(venue: &str, wire: &str) -> PyResult<Self> {
        let v = Venue::from_id(venue).ok_or_else(|| PyValueError::new_err(format!("no native book for {venue:?}")))?;
        Ok(NativeBook { engine: Engine::new(v), wire: wire.to_string() })
    }

    /// Parse and apply `payloads[start:]` in order, until the end or a frame the native
    /// parser leaves to Python (None, or one it does not read).
    /// Returns (stop, trades [(i, price, size, taker_bought)], reasons [(i, reason)]): `stop`
    /// is the index of that frame, or len(payloads).
    fn feed<'py>(&mut self, py: Python<'py>, payloads: &Bound<'py, PyList>, start: usize)
        -> PyResult<(usize, Bound<'py, PyList>, Bound<'py, PyList>)> {
        let trades = PyList::empty(py);
        let reasons = PyList::empty(py);
        let n = payloads.len();
        let mut i = start;
        while i < n {
            let item = payloads.get_item(i)?;
            let Ok(text) = item.downcast::<PyString>() else { break };
            let parsed = venues::parse(self.engine.venue, text.to_str()?, &self.wire);
            let Ok(outs) = parsed else { break };
            for out in outs {
                match out {
                    Out::Book(ev) => {
                        if let Some(reason) = self.engine.apply(ev) {
                            reasons.append((i, reason))?;
                        }
                    }
                    Out::Trade { price, size, buy } => trades.append((i, price, size, buy))?,
                    Out::Precision { price, size, inferred } => self.engine.set_precision(price, size, inferred),
                }
            }
            i += 1;
        }
        Ok((i, trades, reasons))
    }

    /// Apply one book event the Python parser produced; the reason when it broke the sync.
    #[pyo3(signature = (snapshot, bids, asks, seq=None, prev_seq=None, checksum=None, text=None, depth=None))]
    #[allow(clippy::too_many_arguments)]
    fn apply_event(&mut self, snapshot: bool, bids: Vec<Level>, asks: Vec<Level>, seq: Option<i64>,
                   prev_seq: Option<i64>, checksum: Option<i64>, text: Option<TextSides>,
                   depth: Option<usize>) -> PyResult<Option<String>> {
        let (mut bid_tokens, mut ask_tokens) = (None, None);
        if self.engine.venue == Venue::Bitfinex {  // tokens printed from the values
            let tok = |lv: &[Level], is_bid: bool| lv.iter().map(|&(p, q)| venues::bitfinex::token(p, q, is_bid)).collect();
            (bid_tokens, ask_tokens) = (Some(tok(&bids, true)), Some(tok(&asks, false)));
        } else if self.engine.venue == Venue::Kraken {  // v1: the strings as sent; v2: the engine prints them
            if let Some((bt, at)) = text {
                let tok = |t: Vec<(String, String)>| t.into_iter().map(|(p, q)| sync::kraken_digits(&p) + &sync::kraken_digits(&q)).collect::<Vec<_>>();
                (bid_tokens, ask_tokens) = (Some(tok(bt)), Some(tok(at)));
            }
        } else if self.engine.venue.tokenized() {
            let (bt, at) = text.ok_or_else(|| PyValueError::new_err("levels without their text: the checksum needs them"))?;
            let tok = |t: Vec<(String, String)>| t.into_iter().map(|(p, q)| format!("{p}:{q}")).collect::<Vec<_>>();
            (bid_tokens, ask_tokens) = (Some(tok(bt)), Some(tok(at)));
        }
        let ev = BookEvent { snapshot, bids, asks, bid_tokens, ask_tokens, seq, prev_seq, checksum, depth };
        Ok(self.engine.apply(ev))
    }

    /// The pair's decimals (a Precision event the Python parser produced).
    fn set_precision(&mut self, price: u32, size: u32, inferred: bool) {
        self.engine.set_precision(price, size, inferred);
    }

    fn count_malformed(&mut self) {
        self.engine.health.malformed += 1;
    }

    #[getter]
    fn synced(&self) -> bool {
        self.engine.synced
    }

    #[getter]
    fn venue(&self) -> String {
        format!("{:?}", self.engine.venue).to_lowercase()
    }

    /// The METRICS.md book-health counters.
    fn health<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let h = &self.engine.health;
        let d = PyDict::new(py);
        for (k, v) in [("snapshots", h.snapshots), ("updates", h.updates), ("gaps", h.gaps),
                       ("checksum_checks", h.checksum_checks), ("checksum_failures", h.checksum_failures),
                       ("resyncs", h.resyncs), ("malformed", h.malformed)] {
            d.set_item(k, v)?;
        }
        Ok(d)
    }

    /// (bid prices, bid sizes, ask prices, ask sizes) as float64 bytes, prices ascending.
    fn arrays<'py>(&self, py: Python<'py>) -> Bound<'py, PyTuple> {
        let (bp, bq) = side_bytes(py, &self.engine.book.bids);
        let (ap, aq) = side_bytes(py, &self.engine.book.asks);
        PyTuple::new(py, [bp, bq, ap, aq]).unwrap()
    }

    fn best_bid(&self) -> Option<Level> {
        self.engine.book.bids.best()
    }

    fn best_ask(&self) -> Option<Level> {
        self.engine.book.asks.best()
    }

    /// Each side's levels [(price, size)], prices ascending, and its tokens (None without).
    fn levels(&self) -> (SideLevels, SideLevels) {
        let s = |x: &Side| (x.prices.clone(), x.sizes.clone(), x.tokens.clone());
        (s(&self.engine.book.bids), s(&self.engine.book.asks))
    }

    /// Pickling (recovery snapshots, deepcopy): the whole state as JSON.
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, (String, String))> {
        let state = serde_json::to_string(&self.engine).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let restore = py.import("cobflow._native")?.getattr("_restore")?;
        Ok((restore, (self.wire.clone(), state)))
    }
}

#[pyfunction]
fn _restore(wire: String, state: &str) -> PyResult<NativeBook> {
    let engine: Engine = serde_json::from_str(state).map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(NativeBook { engine, wire })
}

/// The consolidated book's buckets of these native books (`consolidate`): bid qty, bid
/// notional, ask qty, ask notional (41 float64 each, as bytes), venues per bucket (41 int64),
/// and the bid and ask totals. `scales`: each book's prices times its quote rate (default 1).
#[pyfunction]
#[pyo3(signature = (books, b, center, scales=None))]
#[allow(clippy::type_complexity)]
fn bucket_books<'py>(py: Python<'py>, books: Vec<PyRef<'py, NativeBook>>, b: f64, center: i64,
                     scales: Option<Vec<f64>>)
    -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>, Bound<'py, PyBytes>, Bound<'py, PyBytes>, Bound<'py, PyBytes>,
                 f64, f64)> {
    let scales = scales.unwrap_or_else(|| vec![1.0; books.len()]);
    if scales.len() != books.len() {
        return Err(PyValueError::new_err(format!("{} scales for {} books", scales.len(), books.len())));
    }
    let mut held = vec![[false; buckets::N]; books.len()];
    let bids: Vec<&Side> = books.iter().map(|x| &x.engine.book.bids).collect();
    let asks: Vec<&Side> = books.iter().map(|x| &x.engine.book.asks).collect();
    let bid = buckets::bucket_side(&bids, &scales, b, center, &mut held);
    let ask = buckets::bucket_side(&asks, &scales, b, center, &mut held);
    let venues: Vec<i64> = (0..buckets::N).map(|k| held.iter().filter(|h| h[k]).count() as i64).collect();
    let f = |v: &[f64]| PyBytes::new(py, &v.iter().flat_map(|x| x.to_ne_bytes()).collect::<Vec<u8>>());
    let i = PyBytes::new(py, &venues.iter().flat_map(|x| x.to_ne_bytes()).collect::<Vec<u8>>());
    Ok((f(&bid.qty), f(&bid.notional), f(&ask.qty), f(&ask.notional), i, bid.total, ask.total))
}

/// Each book's executable prices for `qty` (`buckets::executable`): (selling into its bids,
/// buying from its asks), None where a side is not that deep; book v's prices times
/// `scales[v]` (a quote conversion's rate).
#[pyfunction]
fn executable_prices(books: Vec<PyRef<'_, NativeBook>>, qty: f64, scales: Vec<f64>)
    -> PyResult<Vec<(Option<f64>, Option<f64>)>> {
    if scales.len() != books.len() {
        return Err(PyValueError::new_err(format!("{} scales for {} books", scales.len(), books.len())));
    }
    Ok(books.iter().zip(&scales).map(|(x, &scale)| {
        let book = &x.engine.book;
        (buckets::executable(&book.bids, scale, qty, true), buckets::executable(&book.asks, scale, qty, false))
    }).collect())
}

/// Each book's levels an order of `notional` reaches on each side (`buckets::levels_for`):
/// (bid prices descending, bid sizes, ask prices ascending, ask sizes) as float64 bytes;
/// book v's prices times `scales[v]`.
#[pyfunction]
fn book_levels<'py>(py: Python<'py>, books: Vec<PyRef<'py, NativeBook>>, notional: f64, scales: Vec<f64>,
                    min_levels: usize) -> PyResult<Vec<Bound<'py, PyTuple>>> {
    if scales.len() != books.len() {
        return Err(PyValueError::new_err(format!("{} scales for {} books", scales.len(), books.len())));
    }
    let f = |v: &[f64]| PyBytes::new(py, &v.iter().flat_map(|x| x.to_ne_bytes()).collect::<Vec<u8>>());
    books.iter().zip(&scales).map(|(x, &scale)| {
        let book = &x.engine.book;
        let (bp, bq) = buckets::levels_for(&book.bids, scale, notional, min_levels);
        let (ap, aq) = buckets::levels_for(&book.asks, scale, notional, min_levels);
        PyTuple::new(py, [f(&bp), f(&bq), f(&ap), f(&aq)])
    }).collect()
}

/// A closed or open bar as the fields of `cobflow.metrics.trades.Bar`, in its order.
type BarTuple = (i64, String, String, f64, f64, f64, f64, f64, f64, f64, i64, f64);

fn bar_tuple(b: bars::Bar) -> BarTuple {
    (b.start_s, b.venue, b.timeframe, b.open, b.high, b.low, b.close, b.volume, b.buy_volume, b.sell_volume,
     b.trades, b.notional)
}

/// OHLCV bars per venue and ALL (`cobflow.metrics.trades.BarBuilder`, the reference).
#[pyclass(module = "cobflow._native")]
struct NativeBars {
    bars: bars::Bars,
}

#[pymethods]
impl NativeBars {
    /// `timeframes`: [(name, seconds)].
    #[new]
    fn new(timeframes: Vec<(String, i64)>) -> Self {
        NativeBars { bars: bars::Bars::new(timeframes) }
    }

    /// Trades (ts_recv, venue, price, size, side) in order; the bars they closed, in order.
    fn add_many(&mut self, trades: Vec<(i64, String, f64, f64, String)>) -> Vec<BarTuple> {
        let mut closed = Vec::new();
        for (ts, venue, price, size, side) in &trades {
            self.bars.add(*ts, venue, *price, *size, side == "buy", &mut closed);
        }
        closed.into_iter().map(bar_tuple).collect()
    }

    fn close(&mut self, until_s: i64) -> Vec<BarTuple> {
        self.bars.close(until_s).into_iter().map(bar_tuple).collect()
    }

    fn open_now(&self) -> Vec<BarTuple> {
        self.bars.open_now().into_iter().map(bar_tuple).collect()
    }

    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, (String,))> {
        let state = serde_json::to_string(&self.bars.state()).map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok((py.import("cobflow._native")?.getattr("_restore_bars")?, (state,)))
    }
}

#[pyfunction]
fn _restore_bars(state: &str) -> PyResult<NativeBars> {
    let state: bars::BarsState = serde_json::from_str(state).map_err(|e| PyValueError::new_err(e.to_string()))?;
    let bars = bars::Bars::from_state(state).ok_or_else(|| PyValueError::new_err("a bar of an unknown timeframe"))?;
    Ok(NativeBars { bars })
}

/// JavaScript's printing of a number (Bitfinex checksums), for tests against Python's.
#[pyfunction]
fn _js_number(x: f64) -> String {
    let mut s = String::new();
    venues::bitfinex::js_number(x, &mut s);
    s
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeBook>()?;
    m.add_class::<NativeBars>()?;
    m.add_function(wrap_pyfunction!(_restore_bars, m)?)?;
    m.add_class::<capture::LineReader>()?;
    m.add_class::<kafka::KafkaConsumer>()?;
    m.add_class::<kafka::Record>()?;
    m.add_class::<ilp::IlpTable>()?;
    m.add_function(wrap_pyfunction!(_restore, m)?)?;
    m.add_function(wrap_pyfunction!(_js_number, m)?)?;
    m.add_function(wrap_pyfunction!(bucket_books, m)?)?;
    m.add_function(wrap_pyfunction!(executable_prices, m)?)?;
    m.add_function(wrap_pyfunction!(book_levels, m)?)?;
    m.add("VENUES", sync::Venue::ALL.map(sync::Venue::id).to_vec())?;
    Ok(())
}

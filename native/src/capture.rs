//! Capture lines (CAPTURE.md JSON Lines) straight into `RawMessage` objects: the envelope is
//! parsed and checked here, the field strings that repeat (venue, kind, channel, symbol,
//! encoding) are shared, and no dict is built per line. Lines as `cobflow capture` writes
//! them (its field order, no spaces) are read by a scanner made for that layout; any other
//! valid JSON by serde. `cobflow/capture.py` is the reference: a line this reader does not
//! take as valid is handed back to it, which reads it (or names the rule it breaks).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};
use serde::Deserialize;

const MAX_SHARED: usize = 65_536; // distinct field strings kept for reuse

/// venue -> its markets kept, and the venues whose frames without a market are kept
type Keep = (HashMap<String, HashSet<String>>, HashSet<String>);

#[derive(Deserialize)]
struct Envelope<'a> {
    ts_recv: u64,
    #[serde(borrow)]
    exchange: Cow<'a, str>,
    #[serde(borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    channel: Cow<'a, str>,
    #[serde(borrow, default)]
    symbol: Option<Cow<'a, str>>,
    #[serde(borrow)]
    payload: Cow<'a, str>,
    #[serde(borrow, default)]
    encoding: Option<Cow<'a, str>>,
}

#[pyclass(module = "cobflow._native")]
pub struct LineReader {
    new: PyObject, // object.__new__
    cls: PyObject, // RawMessage
    venues: HashSet<String>,
    shared: HashMap<String, Py<PyString>>,
    // `keep_only`: the (venue, market) pairs kept, and the venues whose frames without a
    // market are kept; None: every valid line is a message
    keep: Option<Keep>,
    // ts_recv of the last valid line of the last `read` call, kept or not (the time of a
    // dead letter after it is the line before it in the file, whichever markets are kept)
    #[pyo3(get)]
    last_ts: Option<u64>,
}

impl LineReader {
    fn shared<'py>(&mut self, py: Python<'py>, s: &str) -> Bound<'py, PyString> {
        if let Some(p) = self.shared.get(s) {
            return p.bind(py).clone();
        }
        let p = PyString::new(py, s);
        if self.shared.len() < MAX_SHARED {
            self.shared.insert(s.to_string(), p.clone().unbind());
        }
        p
    }

    fn message<'py>(&mut self, py: Python<'py>, e: &Envelope) -> PyResult<Bound<'py, PyAny>> {
        let obj = self.new.bind(py).call1((self.cls.bind(py),))?;
        obj.setattr(intern!(py, "ts_recv"), e.ts_recv)?;
        obj.setattr(intern!(py, "exchange"), self.shared(py, &e.exchange))?;
        obj.setattr(intern!(py, "kind"), self.shared(py, &e.kind))?;
        obj.setattr(intern!(py, "channel"), self.shared(py, &e.channel))?;
        match &e.symbol {
            Some(s) => obj.setattr(intern!(py, "symbol"), self.shared(py, s))?,
            None => obj.setattr(intern!(py, "symbol"), py.None())?,
        }
        obj.setattr(intern!(py, "payload"), PyString::new(py, &e.payload))?;
        match &e.encoding {
            Some(s) => obj.setattr(intern!(py, "encoding"), self.shared(py, s))?,
            None => obj.setattr(intern!(py, "encoding"), py.None())?,
        }
        Ok(obj)
    }

    /// The envelope of a line that follows every rule of the contract (else None).
    fn valid<'a>(&self, line: &'a [u8]) -> Option<Envelope<'a>> {
        let text = std::str::from_utf8(line).ok()?; // orjson, too, takes UTF-8 only
        let e = match canonical(text) {
            Some(e) => e,
            None => serde_json::from_str(text).ok()?,
        };
        // ts_recv is an i64 of ns everywhere after this (Kafka, QuestDB, the windows)
        let known = e.ts_recv <= i64::MAX as u64
            && self.venues.contains(e.exchange.as_ref())
            && matches!(e.kind.as_ref(), "ws" | "rest")
            && matches!(e.encoding.as_deref(), None | Some("base64") | Some("base64-gzip"));
        known.then_some(e)
    }

    fn kept(&self, e: &Envelope) -> bool {
        match (&self.keep, &e.symbol) {
            (None, _) => true,
            (Some((_, venues)), None) => venues.contains(e.exchange.as_ref()),
            (Some((markets, _)), Some(s)) => markets.get(e.exchange.as_ref()).is_some_and(|m| m.contains(s.as_ref())),
        }
    }
}

#[pymethods]
impl LineReader {
    /// `new`: object.__new__; `cls`: RawMessage (a slots dataclass); `venues`: the known ids.
    #[new]
    fn py_new(new: PyObject, cls: PyObject, venues: Vec<String>) -> Self {
        LineReader { new, cls, venues: venues.into_iter().collect(), shared: HashMap::new(), keep: None, last_ts: None }
    }

    /// Read only the frames of these (venue, market) pairs, and those without a market of
    /// these venues (one process's share of a cluster's input); other valid lines are
    /// skipped without a message (they still count as lines read).
    fn keep_only(&mut self, markets: Vec<(String, String)>, venues: Vec<String>) {
        let mut by_venue: HashMap<String, HashSet<String>> = HashMap::new();
        for (venue, market) in markets {
            by_venue.entry(venue).or_default().insert(market);
        }
        self.keep = Some((by_venue, venues.into_iter().collect()));
    }

    /// The messages of the whole lines of `buf[start:]` (with `last`, a final line without
    /// its newline too). Returns (messages, end, lines, stopped): `end` is where reading
    /// stopped, `lines` how many lines were consumed (blank ones included), and `stopped`
    /// is true when the line at `end` is not one this reader takes: the caller reads it.
    fn read<'py>(&mut self, py: Python<'py>, buf: &[u8], start: usize, last: bool)
        -> PyResult<(Bound<'py, PyList>, usize, usize, bool)> {
        let out = PyList::empty(py);
        let (mut pos, mut lines) = (start, 0);
        self.last_ts = None;
        while pos < buf.len() {
            let end = match memchr::memchr(b'\n', &buf[pos..]) {
                Some(i) => pos + i + 1,
                None if last => buf.len(),
                None => break,
            };
            let line = &buf[pos..end];
            // Python's bytes.strip() whitespace: a blank line is skipped
            if !line.iter().all(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)) {
                let Some(e) = self.valid(line) else { return Ok((out, pos, lines, true)) };
                self.last_ts = Some(e.ts_recv);
                if self.kept(&e) {
                    out.append(self.message(py, &e)?)?;
                }
            }
            lines += 1;
            pos = end;
        }
        Ok((out, pos, lines, false))
    }
}

/// A line in the layout `encode_line` writes: {"ts_recv":N,"exchange":"..","kind":"..",
/// "channel":"..","symbol":".."|null,"payload":"..",["encoding":"..",]} and JSON whitespace
/// after it. None for anything else (serde then reads it, or Python names the fault).
fn canonical(text: &str) -> Option<Envelope<'_>> {
    let mut s = Scan { t: text, i: 0 };
    s.lit("{\"ts_recv\":")?;
    let ts_recv = s.uint()?;
    s.lit(",\"exchange\":")?;
    let exchange = s.string()?;
    s.lit(",\"kind\":")?;
    let kind = s.string()?;
    s.lit(",\"channel\":")?;
    let channel = s.string()?;
    s.lit(",\"symbol\":")?;
    let symbol = s.string_or_null()?;
    s.lit(",\"payload\":")?;
    let payload = s.string()?;
    let encoding = if s.lit(",\"encoding\":").is_some() { s.string_or_null()? } else { None };
    s.lit("}")?;
    s.t[s.i..].bytes().all(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r')).then_some(Envelope {
        ts_recv,
        exchange,
        kind,
        channel,
        symbol,
        payload,
        encoding,
    })
}

struct Scan<'a> {
    t: &'a str,
    i: usize,
}

impl<'a> Scan<'a> {
    fn lit(&mut self, l: &str) -> Option<()> {
        self.t[self.i..].starts_with(l).then(|| self.i += l.len())
    }

    /// A JSON integer literal >= 0 that fits 64 bits (no leading zeros, no sign, no fraction).
    fn uint(&mut self) -> Option<u64> {
        let b = &self.t.as_bytes()[self.i..];
        let n = b.iter().position(|c| !c.is_ascii_digit()).unwrap_or(b.len());
        if n == 0 || (n > 1 && b[0] == b'0') || matches!(b.get(n), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        let v = self.t[self.i..self.i + n].parse().ok()?;
        self.i += n;
        Some(v)
    }

    fn string_or_null(&mut self) -> Option<Option<Cow<'a, str>>> {
        if self.lit("null").is_some() {
            return Some(None);
        }
        self.string().map(Some)
    }

    /// A JSON string: borrowed when it has no escapes; None for a control character, an
    /// unknown escape or a lone surrogate. (Payloads are JSON in JSON, an escape every few
    /// bytes: one pass byte by byte beats searching for the next one.)
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let b = self.t.as_bytes();
        if b.get(self.i) != Some(&b'"') {
            return None;
        }
        let start = self.i + 1;
        let (mut i, mut run) = (start, start);
        let mut out: Option<Vec<u8>> = None;
        loop {
            let c = *b.get(i)?;
            if c == b'"' {
                self.i = i + 1;
                return Some(match out {
                    None => Cow::Borrowed(&self.t[start..i]),
                    Some(mut o) => {
                        o.extend_from_slice(&b[run..i]);
                        Cow::Owned(String::from_utf8(o).ok()?)
                    }
                });
            }
            if c < 0x20 {
                return None;
            }
            if c != b'\\' {
                i += 1;
                continue;
            }
            let o = out.get_or_insert_with(|| Vec::with_capacity(b.len() - start));
            o.extend_from_slice(&b[run..i]);
            let used = match *b.get(i + 1)? {
                e @ (b'"' | b'\\' | b'/') => {
                    o.push(e);
                    2
                }
                b'b' => {
                    o.push(8);
                    2
                }
                b'f' => {
                    o.push(12);
                    2
                }
                b'n' => {
                    o.push(b'\n');
                    2
                }
                b'r' => {
                    o.push(b'\r');
                    2
                }
                b't' => {
                    o.push(b'\t');
                    2
                }
                b'u' => {
                    let hi = hex4(b.get(i + 2..i + 6)?)?;
                    let (ch, used) = match hi {
                        0xD800..=0xDBFF => {
                            if b.get(i + 6..i + 8)? != b"\\u" {
                                return None;
                            }
                            let lo = hex4(b.get(i + 8..i + 12)?)?;
                            if !(0xDC00..=0xDFFF).contains(&lo) {
                                return None;
                            }
                            (char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))?, 12)
                        }
                        0xDC00..=0xDFFF => return None,
                        _ => (char::from_u32(hi)?, 6),
                    };
                    o.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                    used
                }
                _ => return None,
            };
            i += used;
            run = i;
        }
    }
}

fn hex4(h: &[u8]) -> Option<u32> {
    let s = std::str::from_utf8(h).ok()?;
    if !s.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

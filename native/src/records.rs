//! Kafka records of the raw.<venue> topics (CAPTURE.md "In Kafka") straight into
//! `RawMessage` objects, with the Kafka source's bookkeeping for each record, for the native
//! consumer (`kafka.rs`) over the records it fetched. `cobflow/sources.py`
//! `_RawTopicsPartition._read` is the reference: any record this reader does not take as
//! ordinary (an error or end-of-partition event, an offset other than the one expected, a
//! header that is missing, not UTF-8 or not a plain integer, a payload that is not UTF-8, an
//! empty encoding) stops the reader untouched, and the caller reads that record in Python.
//!
//! A record is one of ours when: its `ts_recv` header is decimal digits that fit an i64 (the
//! last `ts_recv` header wins, as in Python; a header without a value is skipped); `kind`,
//! `channel` and `encoding` headers and the key are UTF-8; the value is UTF-8, or with an
//! encoding it is kept as base64 of its bytes.

use std::collections::{HashMap, VecDeque};

use base64::Engine;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PySet, PyString, PyTuple};

use crate::kafka::Rec;

const MAX_SHARED: usize = 4096; // distinct header values and keys kept for reuse

/// One topic partition's bookkeeping during a call, written back to the source's dicts
/// before the call returns.
struct Part<'py> {
    topic: usize, // index into the consumer's topic names
    partition: i64,
    key: Bound<'py, PyTuple>,         // (topic, partition), the source's dict key
    venue: Bound<'py, PyString>,
    expected: Option<i64>,             // fetched[tp]: next offset expected from Kafka
    last_ts: i64,                      // last_ts.get(tp, -1)
    last_ts_changed: bool,
    held: Bound<'py, PyAny>,           // held[tp], a deque of (offset, ts, item)
    holding: bool,                     // that deque is not empty
    emitted: Option<i64>,              // the last offset emitted in this call
    kept: bool,                        // a record of it was read in this call
}

pub struct Reader {
    new: PyObject, // object.__new__
    cls: PyObject, // RawMessage
    venue_of: HashMap<String, Py<PyString>>,
    shared: HashMap<Vec<u8>, Py<PyString>>,
}

impl Reader {
    fn shared<'py>(&mut self, py: Python<'py>, b: &[u8]) -> Option<Bound<'py, PyString>> {
        if let Some(p) = self.shared.get(b) {
            return Some(p.bind(py).clone());
        }
        let p = PyString::new(py, std::str::from_utf8(b).ok()?);
        if self.shared.len() < MAX_SHARED {
            self.shared.insert(b.to_vec(), p.clone().unbind());
        }
        Some(p)
    }
}

/// Decimal digits that fit an i64 (Python's int() takes more; those go to Python).
fn plain_int(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 19 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse::<i64>().ok()
}

impl Reader {
    /// `new`: object.__new__; `cls`: RawMessage; `venue_of`: topic -> venue.
    pub fn new(py: Python<'_>, new: PyObject, cls: PyObject, venue_of: HashMap<String, String>) -> Self {
        let venue_of = venue_of.into_iter().map(|(t, v)| (t, PyString::new(py, &v).unbind())).collect();
        Reader { new, cls, venue_of, shared: HashMap::new() }
    }

    /// `_drain` of the Kafka source: each partition's held records (in `held`'s order), from
    /// the oldest, out while `_may_emit` lets them (`floor`: the slowest partition's ts_recv,
    /// `skew`: ns), updating `emitted`, `last_offset` and `last_ts` as `_emit` does.
    #[allow(clippy::too_many_arguments)]
    pub fn drain<'py>(py: Python<'py>, held: &Bound<'py, PyDict>, last_ts: &Bound<'py, PyDict>,
                  emitted: &Bound<'py, PyDict>, last_offset: &Bound<'py, PyDict>, out: &Bound<'py, PyList>,
                  floor: Option<i64>, skew: i64) -> PyResult<()> {
        for (key, q) in held.iter() {
            let mut left = q.len()?;
            if left == 0 {
                continue;
            }
            let mut lt: i64 = match last_ts.get_item(&key)? {
                Some(v) => v.extract()?,
                None => -1,
            };
            let (lt_before, mut last) = (lt, None);
            while left > 0 {
                let head = q.get_item(0)?;
                let (offset, ts, item): (i64, i64, Bound<'py, PyAny>) = head.extract()?;
                if let Some(fl) = floor {
                    if !(ts <= fl.saturating_add(skew) || lt <= fl) {
                        break;
                    }
                }
                q.call_method0(intern!(py, "popleft"))?;
                left -= 1;
                out.append(item)?;
                last = Some(offset);
                lt = lt.max(ts);
            }
            if let Some(o) = last {
                emitted.set_item(&key, o + 1)?;
                last_offset.set_item(&key, o)?;
            }
            if lt != lt_before {
                last_ts.set_item(&key, lt)?;
            }
        }
        Ok(())
    }

    /// Reads the records fetched as `_read` does, from the front, taking out each it reads
    /// (emitted messages to `out`, held ones to their partition's deque) and updating
    /// `fetched`, `at_eof`, `emitted`, `last_offset` and `last_ts`; stops at the first record
    /// it leaves to Python (left at the front), or when none is left.
    #[allow(clippy::too_many_arguments)]
    pub fn read<'py>(&mut self, py: Python<'py>, pending: &mut VecDeque<Rec>, topics: &[String],
                     fetched: &Bound<'py, PyDict>, held: &Bound<'py, PyDict>, last_ts: &Bound<'py, PyDict>,
                     emitted: &Bound<'py, PyDict>, last_offset: &Bound<'py, PyDict>, at_eof: &Bound<'py, PySet>,
                     out: &Bound<'py, PyList>, limit: Option<i64>, floor: Option<i64>) -> PyResult<()> {
        let mut parts: Vec<Part<'py>> = Vec::new();
        let b64 = base64::engine::general_purpose::STANDARD;
        while let Some(rec) = pending.front() {
            let (Some(topic), None) = (rec.topic, &rec.err) else { break };
            let (partition, offset) = (rec.partition as i64, rec.offset);
            let at = match parts.iter().position(|p| p.partition == partition && p.topic == topic) {
                Some(at) => at,
                None => {
                    let Some(venue) = self.venue_of.get(&topics[topic]) else { break };
                    let key = PyTuple::new(py, [PyString::new(py, &topics[topic]).into_any(),
                                                partition.into_pyobject(py)?.into_any()])?;
                    let Some(exp) = fetched.get_item(&key)? else { break }; // not a partition of ours
                    let q = held.get_item(&key)?.expect("every fetched partition has a deque");
                    let lt = match last_ts.get_item(&key)? {
                        Some(v) => v.extract()?,
                        None => -1,
                    };
                    parts.push(Part {
                        topic, partition, venue: venue.bind(py).clone(),
                        expected: exp.extract()?, last_ts: lt, last_ts_changed: false,
                        holding: q.len()? > 0, held: q, emitted: None, kept: false, key,
                    });
                    parts.len() - 1
                }
            };
            if parts[at].expected.is_some_and(|e| e != offset) {
                break;
            }
            // the record as a raw message, or a stop (nothing of it kept yet)
            let (mut ts, mut kind, mut channel, mut encoding) = (None, None, None, None);
            for &(k, v) in rec.headers.iter().flatten() {
                let Some(v) = v else { continue }; // a header without a value: as if it were not there
                let slot = match rec.bytes(k) {
                    b"ts_recv" => &mut ts,
                    b"kind" => &mut kind,
                    b"channel" => &mut channel,
                    b"encoding" => &mut encoding,
                    _ => continue,
                };
                *slot = Some(rec.bytes(v));
            }
            let Some(ts_recv) = ts.and_then(plain_int) else { break };
            let mut text = |v: Option<&[u8]>, default: Option<&str>| -> Option<Option<Bound<'py, PyString>>> {
                match v {
                    Some(v) => Some(Some(self.shared(py, v)?)),
                    None => Some(default.map(|d| PyString::new(py, d))),
                }
            };
            let Some(kind) = text(kind, Some("ws")) else { break };
            let Some(channel) = text(channel, Some("")) else { break };
            let Some(encoding) = text(encoding, None) else { break };
            let symbol = match rec.key {
                None => None,
                Some(k) => match self.shared(py, rec.bytes(k)) {
                    Some(s) => Some(s),
                    None => break, // a key that is not UTF-8
                },
            };
            let raw: &[u8] = rec.value.map_or(b"", |v| rec.bytes(v));
            let payload = match &encoding {
                Some(e) if e.to_str()?.is_empty() => break, // Python: "" is no encoding, yet kept
                Some(_) => PyString::new(py, &b64.encode(raw)),
                None => match std::str::from_utf8(raw) {
                    Ok(s) => PyString::new(py, s),
                    Err(_) => break, // Python replaces what is not UTF-8
                },
            };
            let item = self.new.bind(py).call1((self.cls.bind(py),))?;
            item.setattr(intern!(py, "ts_recv"), ts_recv)?;
            item.setattr(intern!(py, "exchange"), &parts[at].venue)?;
            item.setattr(intern!(py, "kind"), kind)?;
            item.setattr(intern!(py, "channel"), channel)?;
            item.setattr(intern!(py, "symbol"), symbol)?;
            item.setattr(intern!(py, "payload"), payload)?;
            item.setattr(intern!(py, "encoding"), encoding)?;
            // kept: fetched, then emitted or held (the rule of `_may_emit`)
            let p = &mut parts[at];
            p.expected = Some(offset + 1);
            p.kept = true;
            let may = match (limit, floor) {
                (Some(lim), Some(fl)) => ts_recv <= lim || p.last_ts <= fl,
                _ => true,
            };
            if p.holding || !may {
                p.held.call_method1(intern!(py, "append"), ((offset, ts_recv, item),))?;
                p.holding = true;
            } else {
                out.append(item)?;
                p.emitted = Some(offset);
                if ts_recv > p.last_ts {
                    p.last_ts = ts_recv;
                    p.last_ts_changed = true;
                }
            }
            pending.pop_front();
        }
        for p in parts.iter().filter(|p| p.kept) {
            fetched.set_item(&p.key, p.expected)?;
            at_eof.discard(&p.key)?;
            if let Some(o) = p.emitted {
                emitted.set_item(&p.key, o + 1)?;
                last_offset.set_item(&p.key, o)?;
            }
            if p.last_ts_changed {
                last_ts.set_item(&p.key, p.last_ts)?;
            }
        }
        Ok(())
    }
}

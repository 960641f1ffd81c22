//! The Kafka source's consumer in the native core: librdkafka (vendored, through rdkafka-sys)
//! fetches the raw.<venue> records, each is copied out of its message with the GIL released,
//! and the flow's thread turns them into raw messages with no other Python object per record.
//! confluent-kafka's `Consumer.consume` builds a `Message` for every record and `headers()`
//! a list of tuples: 2.4 us of the flow's thread a record, the Kafka source's gap to the
//! capture reader (issue 20).
//!
//! It offers the calls the Kafka source makes of confluent-kafka's consumer (`assign`,
//! `pause`, `resume`, `seek`, `get_watermark_offsets` on the same `TopicPartition`
//! objects; `close`), `partitions` for `list_topics`, and `fetch` + `read` for `consume` +
//! `_read`. A record the native reader does not take as ordinary (an error or end-of-partition
//! event, an unexpected offset, an unreadable record) comes out of `read` as a `Record`,
//! which answers as confluent-kafka's `Message` does, and Python's `_read` reads it.

use std::collections::{HashMap, VecDeque};
use std::ffi::{c_char, CStr, CString};
use std::ptr;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PySet};
use rdkafka_sys as rd;

use crate::records::Reader;

type Span = (u32, u32); // a range of `Rec::data`

/// One record (or event) as librdkafka handed it over, its bytes copied into one buffer so
/// that the message goes back to librdkafka at once, off the GIL.
pub struct Rec {
    pub topic: Option<usize>, // index into the consumer's topic names; None: a client-wide event
    pub partition: i32,
    pub offset: i64,
    pub err: Option<(i32, String)>,
    pub timestamp: (i32, i64),
    data: Vec<u8>, // key, value, header names and values, back to back
    pub key: Option<Span>,
    pub value: Option<Span>,
    pub headers: Option<Vec<(Span, Option<Span>)>>,
}

impl Rec {
    pub fn bytes(&self, s: Span) -> &[u8] {
        &self.data[s.0 as usize..s.1 as usize]
    }

    fn span(&mut self, b: &[u8]) -> Span {
        let start = self.data.len() as u32;
        self.data.extend_from_slice(b);
        (start, self.data.len() as u32)
    }

    fn new(topic: Option<usize>, partition: i32, offset: i64, err: Option<(i32, String)>, timestamp: (i32, i64),
           capacity: usize) -> Rec {
        Rec { topic, partition, offset, err, timestamp, data: Vec::with_capacity(capacity), key: None, value: None,
              headers: None }
    }
}

/// The index of `name` in `topics`, added when new.
fn topic_index(topics: &mut Vec<String>, name: &[u8]) -> usize {
    match topics.iter().position(|t| t.as_bytes() == name) {
        Some(i) => i,
        None => {
            topics.push(String::from_utf8_lossy(name).into_owned());
            topics.len() - 1
        }
    }
}

unsafe fn bytes_at<'a>(p: *const std::ffi::c_void, len: usize) -> &'a [u8] {
    if len == 0 { &[] } else { std::slice::from_raw_parts(p as *const u8, len) }
}

/// A copy of librdkafka's message (which the caller destroys).
unsafe fn copy_message(m: *const rd::rd_kafka_message_t, topics: &mut Vec<String>) -> Rec {
    let m = &*m;
    let topic = (!m.rkt.is_null()).then(|| topic_index(topics, CStr::from_ptr(rd::rd_kafka_topic_name(m.rkt)).to_bytes()));
    let err = m.err as i32;
    let mut tstype = rd::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
    let ts = rd::rd_kafka_message_timestamp(m, &mut tstype);
    if err != 0 {
        let reason = CStr::from_ptr(rd::rd_kafka_message_errstr(m)).to_string_lossy().into_owned();
        return Rec::new(topic, m.partition, m.offset, Some((err, reason)), (tstype as i32, ts), 0);
    }
    let mut rec = Rec::new(topic, m.partition, m.offset, None, (tstype as i32, ts), m.key_len + m.len + 64);
    if !m.key.is_null() {
        rec.key = Some(rec.span(bytes_at(m.key, m.key_len)));
    }
    if !m.payload.is_null() {
        rec.value = Some(rec.span(bytes_at(m.payload, m.len)));
    }
    let mut hdrs: *mut rd::rd_kafka_headers_t = ptr::null_mut();
    if rd::rd_kafka_message_headers(m, &mut hdrs) as i32 == 0 {
        let mut out = Vec::with_capacity(4);
        let mut idx = 0;
        loop {
            let (mut name, mut val, mut size): (*const c_char, *const std::ffi::c_void, usize) = (ptr::null(), ptr::null(), 0);
            if rd::rd_kafka_header_get_all(hdrs, idx, &mut name, &mut val, &mut size) as i32 != 0 {
                break;
            }
            let n = rec.span(CStr::from_ptr(name).to_bytes());
            let v = (!val.is_null()).then(|| rec.span(bytes_at(val, size)));
            out.push((n, v));
            idx += 1;
        }
        rec.headers = Some(out);
    }
    rec
}

/// librdkafka's consumer handle and its queue (both thread safe).
struct Client {
    rk: *mut rd::rd_kafka_t,
    queue: *mut rd::rd_kafka_queue_t,
}

unsafe impl Send for Client {}
unsafe impl Sync for Client {}

impl Drop for Client {
    fn drop(&mut self) {
        unsafe {
            rd::rd_kafka_queue_destroy(self.queue);
            rd::rd_kafka_consumer_close(self.rk);
            rd::rd_kafka_destroy(self.rk);
        }
    }
}

/// (topic, partition, offset) of a confluent_kafka `TopicPartition` (or anything with those).
fn topic_partition(tp: &Bound<'_, PyAny>) -> PyResult<(String, i32, i64)> {
    Ok((tp.getattr("topic")?.extract()?, tp.getattr("partition")?.extract()?, tp.getattr("offset")?.extract()?))
}

/// A librdkafka partition list of `tps` (the caller destroys it).
fn partition_list(tps: &[(String, i32, i64)]) -> PyResult<*mut rd::rd_kafka_topic_partition_list_t> {
    unsafe {
        let list = rd::rd_kafka_topic_partition_list_new(tps.len() as i32);
        for (topic, partition, offset) in tps {
            let name = CString::new(topic.as_str()).map_err(|e| PyValueError::new_err(e.to_string()))?;
            let tp = rd::rd_kafka_topic_partition_list_add(list, name.as_ptr(), *partition);
            (*tp).offset = *offset;
        }
        Ok(list)
    }
}

/// librdkafka's words for an error code, looked up in its table (a code it does not know,
/// as a test may put, gets a plain description rather than an undefined enum value).
fn err_text(err: i32) -> String {
    let (mut descs, mut n): (*const rd::rd_kafka_err_desc, usize) = (ptr::null(), 0);
    unsafe {
        rd::rd_kafka_get_err_descs(&mut descs, &mut n);
        for i in 0..n {
            let d = &*descs.add(i);
            if d.code as i32 == err && !d.desc.is_null() {
                return CStr::from_ptr(d.desc).to_string_lossy().into_owned();
            }
        }
    }
    format!("Kafka error {err}")
}

#[pyclass(module = "cobflow._native")]
pub struct KafkaConsumer {
    client: Option<Client>,
    topics: Vec<String>,
    pending: VecDeque<Rec>,
    reader: Reader,
    make_error: PyObject, // confluent_kafka.KafkaError: (code, reason) -> error
}

impl KafkaConsumer {
    fn client(&self) -> PyResult<&Client> {
        self.client.as_ref().ok_or_else(|| PyRuntimeError::new_err("the Kafka consumer is closed"))
    }

    fn on_partitions(&self, tps: &Bound<'_, PyAny>,
                     call: unsafe extern "C" fn(*mut rd::rd_kafka_t, *mut rd::rd_kafka_topic_partition_list_t) -> rd::rd_kafka_resp_err_t)
        -> PyResult<()> {
        let tps: Vec<(String, i32, i64)> = tps.try_iter()?.map(|tp| topic_partition(&tp?)).collect::<PyResult<_>>()?;
        let rk = self.client()?.rk;
        let list = partition_list(&tps)?;
        let err = unsafe {
            let e = call(rk, list) as i32;
            rd::rd_kafka_topic_partition_list_destroy(list);
            e
        };
        if err != 0 {
            return Err(PyRuntimeError::new_err(format!("Kafka: {}", err_text(err))));
        }
        Ok(())
    }

    fn record(&mut self, py: Python<'_>) -> Option<Record> {
        let rec = self.pending.pop_front()?;
        let topic = rec.topic.map(|t| self.topics[t].clone());
        Some(Record { rec, topic, make_error: self.make_error.clone_ref(py) })
    }
}

#[pymethods]
impl KafkaConsumer {
    /// `config`: librdkafka's settings, as confluent-kafka takes them (None: no connection,
    /// records come only by `put`); `new`: object.__new__; `cls`: RawMessage; `venue_of`:
    /// topic -> venue; `make_error`: confluent_kafka.KafkaError.
    #[new]
    #[pyo3(signature = (config, new, cls, venue_of, make_error))]
    fn py_new(py: Python<'_>, config: Option<HashMap<String, String>>, new: PyObject, cls: PyObject,
              venue_of: HashMap<String, String>, make_error: PyObject) -> PyResult<Self> {
        let client = match config {
            None => None,
            Some(config) => Some(unsafe {
                let conf = rd::rd_kafka_conf_new();
                let mut errstr = [0 as c_char; 512];
                for (k, v) in &config {
                    let (ck, cv) = (CString::new(k.as_str())?, CString::new(v.as_str())?);
                    let res = rd::rd_kafka_conf_set(conf, ck.as_ptr(), cv.as_ptr(), errstr.as_mut_ptr(), errstr.len());
                    if res != rd::rd_kafka_conf_res_t::RD_KAFKA_CONF_OK {
                        rd::rd_kafka_conf_destroy(conf);
                        return Err(PyValueError::new_err(CStr::from_ptr(errstr.as_ptr()).to_string_lossy().into_owned()));
                    }
                }
                // rd_kafka_new owns conf from here on, failed or not
                let rk = rd::rd_kafka_new(rd::rd_kafka_type_t::RD_KAFKA_CONSUMER, conf, errstr.as_mut_ptr(), errstr.len());
                if rk.is_null() {
                    return Err(PyRuntimeError::new_err(CStr::from_ptr(errstr.as_ptr()).to_string_lossy().into_owned()));
                }
                rd::rd_kafka_poll_set_consumer(rk); // errors and events come with the records
                Client { rk, queue: rd::rd_kafka_queue_get_consumer(rk) }
            }),
        };
        Ok(KafkaConsumer { client, topics: Vec::new(), pending: VecDeque::new(), reader: Reader::new(py, new, cls, venue_of),
                           make_error })
    }

    /// Every topic's partitions, as (error code, reason, {topic: [partition]}): code 0 unless
    /// the metadata could not be had within `timeout` seconds.
    fn partitions(&self, py: Python<'_>, timeout: f64) -> PyResult<(i32, String, HashMap<String, Vec<i32>>)> {
        let client = self.client()?;
        py.allow_threads(|| unsafe {
            let mut md: *const rd::rd_kafka_metadata = ptr::null();
            let err = rd::rd_kafka_metadata(client.rk, 1, ptr::null_mut(), &mut md, (timeout * 1000.0) as i32) as i32;
            if err != 0 {
                return Ok((err, err_text(err), HashMap::new()));
            }
            let mut out = HashMap::new();
            for t in 0..(*md).topic_cnt as usize {
                let topic = &*(*md).topics.add(t);
                let parts = (0..topic.partition_cnt as usize).map(|p| (*topic.partitions.add(p)).id).collect();
                out.insert(CStr::from_ptr(topic.topic).to_string_lossy().into_owned(), parts);
            }
            rd::rd_kafka_metadata_destroy(md);
            Ok((0, String::new(), out))
        })
    }

    fn assign(&self, tps: &Bound<'_, PyAny>) -> PyResult<()> {
        unsafe extern "C" fn assign(rk: *mut rd::rd_kafka_t, l: *mut rd::rd_kafka_topic_partition_list_t) -> rd::rd_kafka_resp_err_t {
            rd::rd_kafka_assign(rk, l)
        }
        self.on_partitions(tps, assign)
    }

    fn pause(&self, tps: &Bound<'_, PyAny>) -> PyResult<()> {
        self.on_partitions(tps, rd::rd_kafka_pause_partitions)
    }

    /// Fetch again, from each `tp.offset` that is an offset. librdkafka 2.12's batch call
    /// (`fetch`) moves a partition's position past an end-of-partition event (to the end + 1),
    /// and a resume starts there: out of range, the partition would be read again from its
    /// beginning (`auto.offset.reset`). Seeking to the offset the reader expects next puts the
    /// fetch where it belongs (fixed in later librdkafka; confluent-kafka's 2.16 does not).
    fn resume(&self, tps: &Bound<'_, PyAny>) -> PyResult<()> {
        self.on_partitions(tps, rd::rd_kafka_resume_partitions)?;
        for tp in tps.try_iter()? {
            let tp = tp?;
            if tp.getattr("offset")?.extract::<i64>()? >= 0 {
                self.seek(&tp)?;
            }
        }
        Ok(())
    }

    /// Fetch from `tp.offset` on (as confluent-kafka's `seek`: asynchronous).
    fn seek(&self, tp: &Bound<'_, PyAny>) -> PyResult<()> {
        let tp = topic_partition(tp)?;
        let rk = self.client()?.rk;
        let list = partition_list(&[tp])?;
        unsafe {
            let error = rd::rd_kafka_seek_partitions(rk, list, 0);
            let err = (*list).elems.as_ref().map_or(0, |e| e.err as i32);
            rd::rd_kafka_topic_partition_list_destroy(list);
            if !error.is_null() {
                let text = CStr::from_ptr(rd::rd_kafka_error_string(error)).to_string_lossy().into_owned();
                rd::rd_kafka_error_destroy(error);
                return Err(PyRuntimeError::new_err(format!("Kafka seek: {text}")));
            }
            // asynchronous: "in progress" is how a seek that will happen answers
            if err != 0 && err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR__IN_PROGRESS as i32 {
                return Err(PyRuntimeError::new_err(format!("Kafka seek: {}", err_text(err))));
            }
        }
        Ok(())
    }

    /// (low, high) offsets of `tp`: as of the last fetch (`cached`), or asked of the broker.
    #[pyo3(signature = (tp, cached = false, timeout = 5.0))]
    fn get_watermark_offsets(&self, py: Python<'_>, tp: &Bound<'_, PyAny>, cached: bool, timeout: f64) -> PyResult<(i64, i64)> {
        let topic: String = tp.getattr("topic")?.extract()?;
        let partition: i32 = tp.getattr("partition")?.extract()?;
        let name = CString::new(topic)?;
        let client = self.client()?;
        let (mut low, mut high) = (-1i64, -1i64);
        let err = py.allow_threads(|| unsafe {
            if cached {
                rd::rd_kafka_get_watermark_offsets(client.rk, name.as_ptr(), partition, &mut low, &mut high) as i32
            } else {
                rd::rd_kafka_query_watermark_offsets(client.rk, name.as_ptr(), partition, &mut low, &mut high,
                                                     (timeout * 1000.0) as i32) as i32
            }
        });
        if err != 0 {
            return Err(PyRuntimeError::new_err(format!("Kafka watermarks: {}", err_text(err))));
        }
        Ok((low, high))
    }

    /// Up to `n` records (and events) from librdkafka, waiting at most `timeout` seconds
    /// for them, kept for `read`; the GIL is released meanwhile (the copying included, so
    /// the sink's sender thread runs). Returns how many came.
    fn fetch(&mut self, py: Python<'_>, n: usize, timeout: f64) -> PyResult<usize> {
        let Some(client) = self.client.as_ref() else {
            return Err(PyRuntimeError::new_err("the Kafka consumer is closed"));
        };
        let (topics, pending) = (&mut self.topics, &mut self.pending);
        let got = py.allow_threads(|| unsafe {
            let mut buf: Vec<*mut rd::rd_kafka_message_t> = vec![ptr::null_mut(); n.max(1)];
            let got = rd::rd_kafka_consume_batch_queue(client.queue, (timeout * 1000.0) as i32, buf.as_mut_ptr(), buf.len());
            for &m in &buf[..got.max(0) as usize] {
                pending.push_back(copy_message(m, topics));
                rd::rd_kafka_message_destroy(m);
            }
            got
        });
        if got < 0 {
            return Err(PyRuntimeError::new_err("Kafka: reading the consumer's queue failed"));
        }
        Ok(got as usize)
    }

    /// Records as if librdkafka had fetched them, for tests: (topic, partition, offset,
    /// error code or None, key, value, headers [(name, value)] or None, timestamp ms).
    #[allow(clippy::type_complexity)]
    fn put(&mut self, records: Vec<(String, i32, i64, Option<i32>, Option<Vec<u8>>, Option<Vec<u8>>,
                                   Option<Vec<(String, Option<Vec<u8>>)>>, i64)>) {
        for (topic, partition, offset, err, key, value, headers, ts) in records {
            let t = topic_index(&mut self.topics, topic.as_bytes());
            let err = err.map(|e| (e, err_text(e)));
            let mut rec = Rec::new(Some(t), partition, offset, err, (1, ts), 64);
            rec.key = key.map(|k| rec.span(&k));
            rec.value = value.map(|v| rec.span(&v));
            rec.headers = headers.map(|hs| hs.iter().map(|(k, v)| (rec.span(k.as_bytes()), v.as_ref().map(|v| rec.span(v)))).collect());
            self.pending.push_back(rec);
        }
    }

    /// `_read` of the Kafka source over the records fetched, until the first one the native
    /// reader does not take, returned (taken out) for Python's `_read`; None once all are read.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (fetched, held, last_ts, emitted, last_offset, at_eof, out, limit, floor))]
    fn read<'py>(&mut self, py: Python<'py>, fetched: &Bound<'py, PyDict>, held: &Bound<'py, PyDict>,
                 last_ts: &Bound<'py, PyDict>, emitted: &Bound<'py, PyDict>, last_offset: &Bound<'py, PyDict>,
                 at_eof: &Bound<'py, PySet>, out: &Bound<'py, PyList>, limit: Option<i64>, floor: Option<i64>)
        -> PyResult<Option<Record>> {
        self.reader.read(py, &mut self.pending, &self.topics, fetched, held, last_ts, emitted, last_offset, at_eof, out,
                         limit, floor)?;
        Ok(self.record(py))
    }

    /// The next record fetched, for Python's `_read` (None: none is left).
    fn take(&mut self, py: Python<'_>) -> Option<Record> {
        self.record(py)
    }

    /// `_drain` of the Kafka source (see `Reader::drain`).
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (held, last_ts, emitted, last_offset, out, floor, skew))]
    fn drain<'py>(&self, py: Python<'py>, held: &Bound<'py, PyDict>, last_ts: &Bound<'py, PyDict>,
                  emitted: &Bound<'py, PyDict>, last_offset: &Bound<'py, PyDict>, out: &Bound<'py, PyList>,
                  floor: Option<i64>, skew: i64) -> PyResult<()> {
        Reader::drain(py, held, last_ts, emitted, last_offset, out, floor, skew)
    }

    /// Leave the group and let librdkafka go (GIL released: it waits on its threads).
    fn close(&mut self, py: Python<'_>) {
        if let Some(client) = self.client.take() {
            py.allow_threads(move || drop(client));
        }
    }
}

/// A record handed to Python: the methods of confluent-kafka's `Message` that `_read`,
/// `_error` and `unreadable_record` call, with the same answers.
#[pyclass(module = "cobflow._native", frozen)]
pub struct Record {
    rec: Rec,
    topic: Option<String>,
    make_error: PyObject,
}

#[pymethods]
impl Record {
    fn error(&self, py: Python<'_>) -> PyResult<PyObject> {
        match &self.rec.err {
            None => Ok(py.None()),
            Some((code, reason)) => self.make_error.call1(py, (*code, reason.as_str())),
        }
    }

    fn topic(&self) -> Option<&str> {
        self.topic.as_deref()
    }

    fn partition(&self) -> Option<i32> {
        (self.rec.partition >= 0).then_some(self.rec.partition) // RD_KAFKA_PARTITION_UA: None
    }

    fn offset(&self) -> Option<i64> {
        (self.rec.offset >= 0).then_some(self.rec.offset)
    }

    fn key<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.rec.key.map(|s| PyBytes::new(py, self.rec.bytes(s)))
    }

    fn value<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.rec.value.map(|s| PyBytes::new(py, self.rec.bytes(s)))
    }

    #[allow(clippy::type_complexity)]
    fn headers<'py>(&self, py: Python<'py>) -> Option<Vec<(String, Option<Bound<'py, PyBytes>>)>> {
        let hs = self.rec.headers.as_ref()?;
        Some(hs.iter().map(|&(k, v)| {
            (String::from_utf8_lossy(self.rec.bytes(k)).into_owned(), v.map(|v| PyBytes::new(py, self.rec.bytes(v))))
        }).collect())
    }

    fn timestamp(&self) -> (i32, i64) {
        self.rec.timestamp
    }

    fn __repr__(&self) -> String {
        format!("Record({:?}, {}, {}, error={:?})", self.topic, self.rec.partition, self.rec.offset, self.rec.err)
    }
}

//! The QuestDB sink's rows as InfluxDB line protocol, version 2 (QuestDB's ILP over HTTP),
//! byte for byte what the official client's `Buffer.row` writes for the same rows:
//!
//!     table,tag=value,tag=value field=value,field=value 1700000000123456789n\n
//!
//! tags and names escape `\`, space, `,`, `=`, CR and LF with a backslash; strings are
//! quoted and escape `"`, `\`, CR and LF; a DOUBLE is `=` + 0x10 + its 8 bytes little-endian
//! (version 2's binary float: exact, no digits to print or parse); integers end in `i`,
//! booleans are `t`/`f`, timestamps are ns ending in `n`. A null is left out of its line;
//! a line with neither tags nor fields is not written (as the client does).
//!
//! Why not the client: its `Buffer.row` costs ~3 us of Python a row (a dict per row), and
//! the sink writes ~500k rows for an hour of two symbols, 94% of them in blocks of columns
//! (`TableRows`). Here a block is one call and its columns are read through the buffer
//! protocol. `cobflow/sinks/questdb.py` sends the bytes; the client stays the path for
//! tables with array columns and where the native core is off.
//!
//! Typing follows the sink's two kinds of rows: a block's columns by the table's QuestDB
//! types (as `cobflow.tables.python_values`: a NaN DOUBLE is a null), a single row's
//! values by their Python type (as the client), its TIMESTAMP columns as ns.

use std::collections::HashMap;

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyFloat, PyInt, PyList, PyMapping, PyString, PyType};

const FLOAT_BINARY: u8 = 0x10;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Double,
    Long,
    Bool,
    Text,
    Timestamp,
}

impl Kind {
    fn of(qdb_type: &str) -> Option<Kind> {
        Some(match qdb_type {
            "DOUBLE" | "FLOAT" => Kind::Double,
            "LONG" | "INT" | "SHORT" | "BYTE" => Kind::Long,
            "BOOLEAN" => Kind::Bool,
            "VARCHAR" | "STRING" => Kind::Text,
            "TIMESTAMP" => Kind::Timestamp,
            _ => return None,
        })
    }
}

/// `\`, space, `,`, `=`, CR and LF escaped: a table name, a tag, a column name.
fn push_name(out: &mut Vec<u8>, s: &str) {
    for &b in s.as_bytes() {
        if matches!(b, b' ' | b',' | b'=' | b'\\' | b'\n' | b'\r') {
            out.push(b'\\');
        }
        out.push(b);
    }
}

fn push_text(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for &b in s.as_bytes() {
        if matches!(b, b'"' | b'\\' | b'\n' | b'\r') {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

fn push_int(out: &mut Vec<u8>, v: i64, suffix: u8) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    out.push(suffix);
}

fn push_double(out: &mut Vec<u8>, v: f64) {
    out.push(b'=');
    out.push(FLOAT_BINARY);
    out.extend_from_slice(&v.to_le_bytes());
}

/// One value of a field, typed.
enum Value {
    Null,
    Double(f64),
    Long(i64),
    Bool(bool),
    Text(String),
    Nanos(i64),
}

fn push_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => {}
        Value::Double(x) => push_double(out, *x),
        Value::Long(x) => push_int(out, *x, b'i'),
        Value::Bool(x) => out.push(if *x { b't' } else { b'f' }),
        Value::Text(s) => push_text(out, s),
        Value::Nanos(x) => push_int(out, *x, b'n'),
    }
}

/// A block's column, as the table's type reads it.
enum Column {
    Double(Vec<f64>), // NaN: null
    Long(Vec<Option<i64>>),
    Bool(Vec<bool>),
    Text(Vec<Option<String>>),
    Nanos(Vec<Option<i64>>),
}

impl Column {
    fn len(&self) -> usize {
        match self {
            Column::Double(v) => v.len(),
            Column::Long(v) | Column::Nanos(v) => v.len(),
            Column::Bool(v) => v.len(),
            Column::Text(v) => v.len(),
        }
    }

    /// Row i's field (`key=` already written), or false where it is null.
    fn push(&self, out: &mut Vec<u8>, i: usize) -> bool {
        match self {
            Column::Double(v) if !v[i].is_nan() => push_double(out, v[i]),
            Column::Long(v) if v[i].is_some() => push_int(out, v[i].unwrap_or_default(), b'i'),
            Column::Nanos(v) if v[i].is_some() => push_int(out, v[i].unwrap_or_default(), b'n'),
            Column::Bool(v) => out.push(if v[i] { b't' } else { b'f' }),
            Column::Text(v) if v[i].is_some() => push_text(out, v[i].as_deref().unwrap_or_default()),
            _ => return false,
        }
        true
    }
}

/// A 1-d array's values through the buffer protocol, or None for anything else.
fn buffer_values<T: pyo3::buffer::Element + Copy>(obj: &Bound<'_, PyAny>) -> Option<Vec<T>> {
    let buf = PyBuffer::<T>::get(obj).ok()?;
    if buf.dimensions() != 1 {
        return None;
    }
    match buf.as_slice(obj.py()) {
        Some(cells) => Some(cells.iter().map(|c| c.get()).collect()),
        None => buf.to_vec(obj.py()).ok(),
    }
}

fn ints(obj: &Bound<'_, PyAny>) -> PyResult<Vec<Option<i64>>> {
    if let Some(v) = buffer_values::<i64>(obj) {
        return Ok(v.into_iter().map(Some).collect());
    }
    if let Some(v) = buffer_values::<i32>(obj) {
        return Ok(v.into_iter().map(|x| Some(x as i64)).collect());
    }
    obj.try_iter()?
        .map(|x| {
            let x = x?;
            if x.is_none() { Ok(None) } else { Ok(Some(x.extract::<i64>()?)) }
        })
        .collect()
}

fn column(kind: Kind, obj: &Bound<'_, PyAny>) -> PyResult<Column> {
    Ok(match kind {
        Kind::Double => {
            if let Some(v) = buffer_values::<f64>(obj) {
                Column::Double(v)
            } else {
                Column::Double(
                    obj.try_iter()?
                        .map(|x| {
                            let x = x?;
                            if x.is_none() { Ok(f64::NAN) } else { x.extract::<f64>() }
                        })
                        .collect::<PyResult<_>>()?,
                )
            }
        }
        Kind::Long => Column::Long(ints(obj)?),
        Kind::Timestamp => Column::Nanos(ints(obj)?),
        Kind::Bool => Column::Bool(obj.try_iter()?.map(|x| x?.is_truthy()).collect::<PyResult<_>>()?),
        Kind::Text => Column::Text(
            obj.try_iter()?
                .map(|x| {
                    let x = x?;
                    if x.is_none() { Ok(None) } else { Ok(Some(x.str()?.to_str()?.to_owned())) }
                })
                .collect::<PyResult<_>>()?,
        ),
    })
}

/// A tag of a block: one value for every row, or one per row (None: left out).
enum Tag {
    One(Vec<u8>),
    Each(Vec<Option<Vec<u8>>>),
}

fn escaped(s: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(s.len());
    push_name(&mut v, s);
    v
}

#[pyclass(module = "cobflow._native")]
pub struct IlpTable {
    name: String,
    table: Vec<u8>,                          // the escaped table name
    columns: HashMap<String, (Vec<u8>, Kind)>, // name -> (escaped name, its type)
    keys: HashMap<String, Vec<u8>>,          // tag names seen, escaped
    block: Py<PyType>,                       // cobflow.tables.TableRows
    out: Vec<u8>,
    rows: usize,
}

impl IlpTable {
    fn key(&mut self, name: &str) -> Vec<u8> {
        if let Some(k) = self.keys.get(name) {
            return k.clone();
        }
        let k = escaped(name);
        self.keys.insert(name.to_owned(), k.clone());
        k
    }

    fn column_of(&self, name: &str) -> PyResult<&(Vec<u8>, Kind)> {
        self.columns
            .get(name)
            .ok_or_else(|| PyValueError::new_err(format!("table {} has no column {name:?}", self.name)))
    }

    /// A block of rows (`TableRows`): columns typed by the table.
    fn add_block(&mut self, item: &Bound<'_, PyAny>) -> PyResult<()> {
        let mut cols: Vec<(Vec<u8>, Column)> = Vec::new();
        let columns = item.getattr("columns")?;
        let columns = columns.downcast::<PyMapping>()?;
        for pair in columns.items()?.iter() {
            let (name, values): (String, Bound<'_, PyAny>) = pair.extract()?;
            let (key, kind) = self.column_of(&name)?.clone();
            cols.push((key, column(kind, &values)?));
        }
        let n = cols.first().map_or(0, |c| c.1.len());
        if let Some((key, c)) = cols.iter().find(|c| c.1.len() != n) {
            return Err(PyValueError::new_err(format!(
                "table {}: column {} has {} rows, not {n}", self.name, String::from_utf8_lossy(key), c.len())));
        }
        let ts_obj = item.getattr("ts")?;
        let ts: Vec<i64> = if ts_obj.is_instance_of::<PyInt>() {
            vec![ts_obj.extract::<i64>()?; n]
        } else {
            ints(&ts_obj)?.into_iter().map(|t| t.unwrap_or(i64::MIN)).collect()
        };
        if ts.len() != n || ts.contains(&i64::MIN) {
            return Err(PyValueError::new_err(format!("table {}: a ts for each of its {n} rows", self.name)));
        }
        let mut tags: Vec<(Vec<u8>, Tag)> = Vec::new();
        let symbols = item.getattr("symbols")?;
        for pair in symbols.downcast::<PyMapping>()?.items()?.iter() {
            let (name, value): (String, Bound<'_, PyAny>) = pair.extract()?;
            let key = self.key(&name);
            if value.is_none() {
                continue;
            }
            if let Ok(s) = value.downcast::<PyString>() {
                tags.push((key, Tag::One(escaped(s.to_str()?))));
                continue;
            }
            let each: Vec<Option<Vec<u8>>> = value
                .try_iter()?
                .map(|x| {
                    let x = x?;
                    if x.is_none() { Ok(None) } else { Ok(Some(escaped(x.downcast::<PyString>()?.to_str()?))) }
                })
                .collect::<PyResult<_>>()?;
            if each.len() != n {
                return Err(PyValueError::new_err(format!("table {}: tag {name} has {} values, not {n}", self.name, each.len())));
            }
            tags.push((key, Tag::Each(each)));
        }
        let fields: Vec<(Vec<u8>, &Column)> = cols.iter().map(|(k, c)| {
            let mut key = k.clone();
            key.push(b'=');
            (key, c)
        }).collect();
        for (i, &t) in ts.iter().enumerate() {
            let start = self.out.len();
            self.out.extend_from_slice(&self.table);
            let mut any = false;
            for (key, tag) in &tags {
                let v = match tag {
                    Tag::One(v) => Some(v),
                    Tag::Each(vs) => vs[i].as_ref(),
                };
                if let Some(v) = v {
                    self.out.push(b',');
                    self.out.extend_from_slice(key);
                    self.out.push(b'=');
                    self.out.extend_from_slice(v);
                    any = true;
                }
            }
            self.out.push(b' ');
            let mut first = true;
            for (key, c) in &fields {
                let at = self.out.len();
                if !first {
                    self.out.push(b',');
                }
                self.out.extend_from_slice(key);
                if c.push(&mut self.out, i) {
                    first = false;
                    any = true;
                } else {
                    self.out.truncate(at);
                }
            }
            if !any {
                self.out.truncate(start);
                continue;
            }
            if !first {
                self.out.push(b' ');
            }
            push_int(&mut self.out, t, b'n');
            self.out.push(b'\n');
            self.rows += 1;
        }
        Ok(())
    }

    /// One row (`TableRow`): values typed by their Python type, TIMESTAMP columns as ns.
    fn add_row(&mut self, item: &Bound<'_, PyAny>) -> PyResult<()> {
        let ts: i64 = item.getattr("ts")?.extract()?;
        let mut line = self.table.clone();
        let mut any = false;
        let symbols = item.getattr("symbols")?;
        for pair in symbols.downcast::<PyMapping>()?.items()?.iter() {
            let (name, value): (String, Bound<'_, PyAny>) = pair.extract()?;
            if value.is_none() {
                continue;
            }
            let value = escaped(value.downcast::<PyString>()?.to_str()?);
            line.push(b',');
            line.extend_from_slice(&self.key(&name));
            line.push(b'=');
            line.extend_from_slice(&value);
            any = true;
        }
        line.push(b' ');
        let mut first = true;
        let columns = item.getattr("columns")?;
        for pair in columns.downcast::<PyMapping>()?.items()?.iter() {
            let (name, x): (String, Bound<'_, PyAny>) = pair.extract()?;
            let (key, kind) = self.column_of(&name)?;
            let value = if x.is_none() {
                Value::Null
            } else if *kind == Kind::Timestamp {
                Value::Nanos(x.extract()?)
            } else if x.is_instance_of::<PyBool>() {
                Value::Bool(x.extract()?)
            } else if x.is_instance_of::<PyInt>() {
                Value::Long(x.extract()?)
            } else if x.is_instance_of::<PyFloat>() {
                Value::Double(x.extract()?)
            } else if let Ok(s) = x.downcast::<PyString>() {
                Value::Text(s.to_str()?.to_owned())
            } else if let Ok(v) = x.extract::<i64>() {
                Value::Long(v) // numpy integers
            } else if let Ok(v) = x.extract::<f64>() {
                Value::Double(v) // numpy floats
            } else {
                return Err(PyValueError::new_err(format!(
                    "table {}: column {name} cannot take a {}", self.name, x.get_type().name()?)));
            };
            if let Value::Null = value {
                continue;
            }
            if !first {
                line.push(b',');
            }
            line.extend_from_slice(key);
            line.push(b'=');
            push_value(&mut line, &value);
            first = false;
            any = true;
        }
        if !any {
            return Ok(());
        }
        if !first {
            line.push(b' ');
        }
        push_int(&mut line, ts, b'n');
        line.push(b'\n');
        self.out.extend_from_slice(&line);
        self.rows += 1;
        Ok(())
    }
}

#[pymethods]
impl IlpTable {
    /// `name`: the table's full name in QuestDB; `columns`: (name, QuestDB type) of the
    /// table's columns other than ts and its tags; `block`: the TableRows class.
    #[new]
    fn py_new(name: &str, columns: Vec<(String, String)>, block: Py<PyType>) -> PyResult<Self> {
        let mut cols = HashMap::new();
        for (c, t) in columns {
            let kind = Kind::of(&t)
                .ok_or_else(|| PyValueError::new_err(format!("table {name}: no line-protocol writer for {t} ({c})")))?;
            cols.insert(c.clone(), (escaped(&c), kind));
        }
        Ok(IlpTable { name: name.to_owned(), table: escaped(name), columns: cols, keys: HashMap::new(), block,
                      out: Vec::new(), rows: 0 })
    }

    /// Appends the lines of `items` (TableRow or TableRows) and returns how many rows they
    /// made. An item that cannot be written adds nothing of itself and raises ValueError
    /// naming the table (the items before it stay).
    fn add(&mut self, items: &Bound<'_, PyList>) -> PyResult<usize> {
        let before = self.rows;
        let block = self.block.clone_ref(items.py());
        for item in items.iter() {
            let (len, rows) = (self.out.len(), self.rows);
            let done = if item.get_type().is(&block) { self.add_block(&item) } else { self.add_row(&item) };
            if let Err(e) = done {
                self.out.truncate(len);
                self.rows = rows;
                return Err(e);
            }
        }
        Ok(self.rows - before)
    }

    /// Rows written since the last `take`.
    #[getter]
    fn rows(&self) -> usize {
        self.rows
    }

    /// The lines written so far, and a fresh start.
    fn take<'py>(&mut self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let out = PyBytes::new(py, &self.out);
        self.out.clear();
        self.rows = 0;
        out
    }
}

//! Keywords between Python and the stream: values `int` ↔ `'L'` (i64), `float` ↔ `'D'` (f64),
//! `str` ↔ `'S'` (at most 15 bytes of UTF-8), and the entry methods of `Stream` behind the
//! mapping object (`stream.keywords`, pure Python: `shmim._keywords.Keywords`).

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyList, PyString};
use shmim_core::Value;

use crate::errors::IntoPyResult;
use crate::stream::PyStream;

/// The keyword value for a Python value: `str`, `int` (and `bool`, numpy integers), `float` (and
/// numpy floats). An `int` outside i64 is an `OverflowError`, not a rounded float.
pub fn value(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::Str(s.to_cow()?.into_owned()));
    }
    if obj.is_instance_of::<PyInt>() || obj.is_instance_of::<PyBool>() {
        return Ok(Value::Long(obj.extract()?));
    }
    if obj.is_instance_of::<PyFloat>() {
        return Ok(Value::Double(obj.extract()?));
    }
    // numpy scalars and other numbers: integers first (they have __index__), then floats.
    if let Ok(i) = obj.extract::<i64>() {
        return Ok(Value::Long(i));
    }
    if let Ok(f) = obj.extract::<f64>() {
        return Ok(Value::Double(f));
    }
    Err(PyTypeError::new_err(format!(
        "keyword values are int, float or str, not {}",
        obj.get_type().name()?
    )))
}

/// The Python value of a keyword (`None` for an unused entry).
pub fn to_python<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Empty => py.None().into_bound(py),
        Value::Long(l) => l.into_pyobject(py)?.into_any(),
        Value::Double(d) => d.into_pyobject(py)?.into_any(),
        Value::Str(s) => s.into_pyobject(py)?.into_any(),
    })
}

/// Every used entry as `(name, value, comment)`, in entry order.
pub fn entries<'py>(stream: &PyStream, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
    let entries = stream.with_stream(py, |s| s.keywords().py())?;
    let list = PyList::empty(py);
    for k in entries {
        list.append((k.name, to_python(py, &k.value)?, k.comment))?;
    }
    Ok(list)
}

/// Sets keyword `name` (its entry, or the first unused one).
pub fn set(
    stream: &PyStream,
    py: Python<'_>,
    name: &str,
    value_obj: &Bound<'_, PyAny>,
    comment: &str,
) -> PyResult<()> {
    let v = value(value_obj)?;
    stream.with_stream(py, |s| s.set_keyword(name, v, comment).py().map(drop))
}

/// Marks keyword `name`'s entry unused; whether there was one. Looked up and cleared under the keyword writers' lock (`Stream::clear_keyword`), so an entry
/// freed and reused by another name meanwhile is never the one cleared.
pub fn clear(stream: &PyStream, py: Python<'_>, name: &str) -> PyResult<bool> {
    stream.with_stream(py, |s| Ok(s.clear_keyword(name).py()?.is_some()))
}

/// Marks every keyword entry unused.
pub fn clear_all(stream: &PyStream, py: Python<'_>) -> PyResult<()> {
    stream.with_stream(py, |s| {
        for k in s.keywords().py()? {
            s.set_keyword_at(k.index, "", Value::Empty, "").py()?;
        }
        Ok(())
    })
}

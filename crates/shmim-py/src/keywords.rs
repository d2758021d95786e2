//! Keyword values between Python and the stream: `int` ↔ `'L'` (i64), `float` ↔ `'D'` (f64),
//! `str` ↔ `'S'` (at most 15 bytes of UTF-8). The mapping object itself (`stream.keywords`) is
//! pure Python (`shmim._keywords.Keywords`) over the entry methods of `Stream`.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyString};
use shmim_core::Value;

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

//! Stream datatypes as numpy dtypes, and back.
//!
//! Every one of the 13 ImageStreamIO pixel types has a numpy dtype of the same size and meaning
//! (`HALF` is `float16`, the complex types are `complex64`/`complex128`). Anything else (bool,
//! strings, structured or big-endian dtypes) is refused with a `ValueError` that names it.

use numpy::{PyArrayDescr, PyArrayDescrMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use shmim_core::Datatype;

/// numpy's name for the elements of `d`, and its dtype `kind` (the size is the datatype's).
fn numpy_type(d: Datatype) -> (&'static str, u8) {
    match d {
        Datatype::U8 => ("uint8", b'u'),
        Datatype::I8 => ("int8", b'i'),
        Datatype::U16 => ("uint16", b'u'),
        Datatype::I16 => ("int16", b'i'),
        Datatype::U32 => ("uint32", b'u'),
        Datatype::I32 => ("int32", b'i'),
        Datatype::U64 => ("uint64", b'u'),
        Datatype::I64 => ("int64", b'i'),
        Datatype::Float => ("float32", b'f'),
        Datatype::Double => ("float64", b'f'),
        Datatype::ComplexFloat => ("complex64", b'c'),
        Datatype::ComplexDouble => ("complex128", b'c'),
        Datatype::Half => ("float16", b'f'),
    }
}

/// numpy's name for the elements of `d`.
pub fn numpy_name(d: Datatype) -> &'static str {
    numpy_type(d).0
}

/// The numpy dtype of `d`'s elements (made once per datatype, then shared: a frame's copy asks
/// for it every time).
pub fn descr(py: Python<'_>, d: Datatype) -> PyResult<Bound<'_, PyArrayDescr>> {
    static DESCRS: [PyOnceLock<Py<PyArrayDescr>>; Datatype::ALL.len()] =
        [const { PyOnceLock::new() }; Datatype::ALL.len()];
    let i = Datatype::ALL
        .iter()
        .position(|&t| t == d)
        .unwrap_or_default();
    DESCRS[i]
        .get_or_try_init(py, || {
            PyArrayDescr::new(py, numpy_name(d)).map(Bound::unbind)
        })
        .map(|descr| descr.bind(py).clone())
}

/// The stream datatype for anything `numpy.dtype()` accepts (`"f4"`, `np.float32`, a dtype…).
pub fn from_dtype_like(obj: &Bound<'_, PyAny>) -> PyResult<Datatype> {
    let d = PyArrayDescr::new(obj.py(), obj)?;
    from_descr(&d)
}

/// The stream datatype whose elements `d` describes.
pub fn from_descr(d: &Bound<'_, PyArrayDescr>) -> PyResult<Datatype> {
    let refuse =
        |why: &str| PyValueError::new_err(format!("dtype {d} cannot be a stream's: {why}"));
    if d.has_fields() || d.has_subarray() {
        return Err(refuse("structured dtypes are not pixel types"));
    }
    if d.is_native_byteorder() == Some(false) {
        return Err(refuse(
            "not in native byte order (convert with .astype(dtype.newbyteorder('=')))",
        ));
    }
    let (kind, size) = (d.kind(), d.itemsize());
    Datatype::ALL
        .into_iter()
        .find(|&t| numpy_type(t).1 == kind && t.size() == size)
        .ok_or_else(|| refuse("pixel types are u/int 8-64, float16/32/64 and complex64/128"))
}

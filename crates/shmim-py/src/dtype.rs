//! Stream datatypes as numpy dtypes, and back.
//!
//! Every one of the 13 ImageStreamIO pixel types has a numpy dtype of the same size and meaning
//! (`HALF` is `float16`, the complex types are `complex64`/`complex128`). Anything else (bool,
//! strings, structured or big-endian dtypes) is refused with a `ValueError` that names it.

use numpy::{PyArrayDescr, PyArrayDescrMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use shmim_core::Datatype;

/// numpy's name for the elements of `d`.
pub fn numpy_name(d: Datatype) -> &'static str {
    match d {
        Datatype::U8 => "uint8",
        Datatype::I8 => "int8",
        Datatype::U16 => "uint16",
        Datatype::I16 => "int16",
        Datatype::U32 => "uint32",
        Datatype::I32 => "int32",
        Datatype::U64 => "uint64",
        Datatype::I64 => "int64",
        Datatype::Float => "float32",
        Datatype::Double => "float64",
        Datatype::ComplexFloat => "complex64",
        Datatype::ComplexDouble => "complex128",
        Datatype::Half => "float16",
    }
}

/// The numpy dtype of `d`'s elements.
pub fn descr(py: Python<'_>, d: Datatype) -> PyResult<Bound<'_, PyArrayDescr>> {
    PyArrayDescr::new(py, numpy_name(d))
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
    let t = match (d.kind(), d.itemsize()) {
        (b'u', 1) => Datatype::U8,
        (b'i', 1) => Datatype::I8,
        (b'u', 2) => Datatype::U16,
        (b'i', 2) => Datatype::I16,
        (b'u', 4) => Datatype::U32,
        (b'i', 4) => Datatype::I32,
        (b'u', 8) => Datatype::U64,
        (b'i', 8) => Datatype::I64,
        (b'f', 2) => Datatype::Half,
        (b'f', 4) => Datatype::Float,
        (b'f', 8) => Datatype::Double,
        (b'c', 8) => Datatype::ComplexFloat,
        (b'c', 16) => Datatype::ComplexDouble,
        _ => {
            return Err(refuse(
                "pixel types are u/int 8-64, float16/32/64 and complex64/128",
            ));
        }
    };
    Ok(t)
}

//! The few numpy C-API operations the bindings need, each behind a safe function: a new array to
//! copy a frame into, an array over memory someone else keeps alive (the live pixels), and the
//! bytes of an array handed to us.
//!
//! Arrays handed to us are used as numpy itself uses them in its own C loops: while a call runs
//! we copy bytes into or out of their buffer, holding a reference to the array so the buffer
//! cannot be freed, and refusing arrays that are not C-contiguous (and writeable, to write into).
//! Alignment does not matter: the copies are byte copies.
//! As with numpy's functions that release the GIL, another thread that writes the same array
//! during the call races with us; that is the caller's business, as it is for `numpy.copyto`.

use std::ffi::c_void;
use std::ptr;

use numpy::npyffi::{
    self, NPY_ARRAY_ALIGNED, NPY_ARRAY_C_CONTIGUOUS, NPY_ARRAY_WRITEABLE, PY_ARRAY_API, npy_intp,
};
use numpy::{PyArrayDescr, PyArrayDescrMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// At most three axes (the format's limit), as numpy dimensions.
fn dims(shape: &[usize]) -> PyResult<([npy_intp; 3], usize)> {
    let mut d = [0 as npy_intp; 3];
    if shape.len() > d.len() {
        return Err(PyValueError::new_err("streams have at most 3 axes"));
    }
    for (o, &s) in d.iter_mut().zip(shape) {
        *o = npy_intp::try_from(s).map_err(|_| PyValueError::new_err("axis too long"))?;
    }
    Ok((d, shape.len()))
}

/// Asks numpy for an array of `descr`, `shape` (C order): over `data` (with `flags`) or, when
/// `data` is null, over new memory numpy owns.
///
/// # Safety
/// A non-null `data` must be valid for the array's bytes, aligned for `descr`, writable when
/// `flags` says writeable, and stay so while the returned array (or anything viewing it) lives.
unsafe fn new_from_descr<'py>(
    descr: &Bound<'py, PyArrayDescr>,
    shape: &[usize],
    data: *mut u8,
    flags: i32,
) -> PyResult<Bound<'py, PyUntypedArray>> {
    let py = descr.py();
    let (mut d, nd) = dims(shape)?;
    // SAFETY: the type object comes from numpy's own API table (imported by `PY_ARRAY_API`);
    // `into_dtype_ptr` gives numpy the descriptor reference it steals; `d` holds `nd` valid
    // dimensions and outlives the call (numpy copies them); null strides mean C order; `data`
    // is null or valid as this function's contract requires.
    let raw = unsafe {
        PY_ARRAY_API.PyArray_NewFromDescr(
            py,
            npyffi::get_type_object(py, npyffi::NpyTypes::PyArray_Type),
            descr.clone().into_dtype_ptr(),
            nd as i32,
            d.as_mut_ptr(),
            ptr::null_mut(),
            data.cast::<c_void>(),
            flags,
            ptr::null_mut(),
        )
    };
    // SAFETY: NewFromDescr returns a new reference to an ndarray, or null with an exception set.
    let any = unsafe { Bound::from_owned_ptr_or_err(py, raw) }?;
    Ok(any.cast_into::<PyUntypedArray>()?)
}

/// A new C-contiguous array of `descr` elements (contents undefined: the caller fills it).
pub fn empty<'py>(
    descr: &Bound<'py, PyArrayDescr>,
    shape: &[usize],
) -> PyResult<Bound<'py, PyUntypedArray>> {
    // SAFETY: no data pointer: numpy allocates and owns the memory.
    unsafe { new_from_descr(descr, shape, ptr::null_mut(), 0) }
}

/// A C-order array over `data`, whose memory `owner` keeps alive: the array's `base` is `owner`.
///
/// # Safety
/// `data` must be aligned for `descr` and valid (writable, when `writeable`) for the array's
/// bytes for as long as `owner` lives.
pub unsafe fn over<'py>(
    descr: &Bound<'py, PyArrayDescr>,
    shape: &[usize],
    data: *mut u8,
    writeable: bool,
    owner: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyUntypedArray>> {
    let flags = NPY_ARRAY_C_CONTIGUOUS
        | NPY_ARRAY_ALIGNED
        | if writeable { NPY_ARRAY_WRITEABLE } else { 0 };
    // SAFETY: forwarded from this function's contract; `owner` becomes the array's base below,
    // so the memory outlives the array.
    let arr = unsafe { new_from_descr(descr, shape, data, flags) }?;
    // SAFETY: `arr` is a fresh ndarray without a base; SetBaseObject steals the reference
    // `into_ptr` gives it, on success and on failure alike.
    let rc = unsafe {
        PY_ARRAY_API.PyArray_SetBaseObject(descr.py(), arr.as_array_ptr(), owner.into_ptr())
    };
    if rc < 0 {
        return Err(PyErr::fetch(descr.py()));
    }
    Ok(arr)
}

/// Address and length of an array's bytes, if it is C-contiguous (and writeable, when
/// `for_writing`); `None` otherwise. The address may be unaligned for the dtype.
pub fn contiguous_bytes(
    arr: &Bound<'_, PyUntypedArray>,
    for_writing: bool,
) -> Option<(*mut u8, usize)> {
    // SAFETY: `arr` is a live ndarray (the Bound holds a reference) and we are attached to the
    // interpreter; the fields are read, not kept.
    let (data, flags) = unsafe {
        let f = npyffi::_PyArray_GET_ITEM_DATA(arr.as_array_ptr());
        ((*f).data.cast::<u8>(), (*f).flags)
    };
    let need = NPY_ARRAY_C_CONTIGUOUS | if for_writing { NPY_ARRAY_WRITEABLE } else { 0 };
    if flags & need != need {
        return None;
    }
    let len = arr.len() * arr.dtype().itemsize();
    Some((data, len))
}

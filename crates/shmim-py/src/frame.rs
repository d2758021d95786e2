//! Copying one frame between the stream and numpy arrays: out into a new array or the caller's
//! `out` ([`Destination`]), in from any array-like ([`Source`]).
//!
//! The copies are byte copies between the mapping and the array's buffer, so an array needs to
//! be C-contiguous, not aligned. An array can be a view of this very mapping (`view()`, the array
//! of a `with stream.write()` block), so the array's byte range is checked against the mapped
//! pixels first: an `out` that is the stream's own pixels is refused, a frame to write that is
//! them is copied out to a temporary first.

use numpy::{PyArrayDescr, PyArrayDescrMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use shmim_core::{Datatype, Stream};

use crate::array::{contiguous_bytes, empty};

/// What a frame looks like to numpy: element type and C-order shape. Plain Rust (no Python
/// object), so it can be read with the GIL released.
#[derive(Debug, Clone)]
pub struct FrameShape {
    /// The pixels' type.
    pub datatype: Datatype,
    /// Axis lengths, C order (reversed `size`).
    pub shape: Vec<usize>,
    /// Bytes of one frame.
    pub bytes: usize,
    /// Address range of the mapped pixels the frames are copied from and to.
    pub pixels: std::ops::Range<usize>,
}

impl FrameShape {
    /// The shape of `stream`'s frames.
    pub fn of(stream: &Stream) -> Self {
        Self {
            datatype: stream.datatype(),
            shape: stream.shape().iter().rev().map(|&s| s as usize).collect(),
            bytes: stream.geometry().frame_bytes(),
            pixels: match stream.live_pixels() {
                Ok(p) => p.as_ptr() as usize..p.as_ptr() as usize + p.len(),
                Err(_) => 0..0, // a GPU stream: every copy fails before touching memory
            },
        }
    }

    /// The pixels' numpy dtype.
    pub fn descr<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArrayDescr>> {
        crate::dtype::descr(py, self.datatype)
    }

    /// Whether `len` bytes at `ptr` share any byte with the mapped pixels.
    fn overlaps_pixels(&self, ptr: *const u8, len: usize) -> bool {
        let start = ptr as usize;
        start < self.pixels.end && self.pixels.start < start.saturating_add(len)
    }

    /// Where to copy a frame: `out` (checked: an ndarray of this dtype and shape, C-contiguous
    /// and writeable, not the stream's own pixels) or a new array.
    pub fn destination<'py>(
        &self,
        py: Python<'py>,
        out: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Destination<'py>> {
        let descr = self.descr(py)?;
        let arr = match out {
            None => empty(&descr, &self.shape)?,
            Some(out) => {
                let arr = out.cast::<PyUntypedArray>().map_err(|_| {
                    PyTypeError::new_err(format!(
                        "out must be a numpy array, not {}",
                        out.get_type().name().map_or("?".into(), |n| n.to_string())
                    ))
                })?;
                if !arr.dtype().is_equiv_to(&descr) || arr.shape() != self.shape.as_slice() {
                    return Err(PyValueError::new_err(format!(
                        "out is a {:?} {} array; a frame is {:?} {}",
                        arr.shape(),
                        arr.dtype(),
                        self.shape,
                        descr
                    )));
                }
                arr.clone()
            }
        };
        let (ptr, len) = contiguous_bytes(&arr, true)
            .filter(|&(_, len)| len == self.bytes)
            .ok_or_else(|| {
                PyValueError::new_err(
                    "out must be C-contiguous and writeable (np.empty(shape, dtype) is)",
                )
            })?;
        if self.overlaps_pixels(ptr, len) {
            return Err(PyValueError::new_err(
                "out is a view of this stream's own pixels; read into another array",
            ));
        }
        Ok(Destination { arr, ptr, len })
    }

    /// `obj` as the bytes of one frame: an ndarray of the frame's dtype and shape (copied to C
    /// order if it is not), or any array-like numpy converts to one. Arrays of another dtype
    /// are refused, not cast.
    pub fn source<'py>(&self, obj: &Bound<'py, PyAny>) -> PyResult<Source<'py>> {
        let py = obj.py();
        let descr = self.descr(py)?;
        let numpy = py.import("numpy")?;
        let mut arr = match obj.cast::<PyUntypedArray>() {
            Ok(a) => a.clone(),
            Err(_) => numpy
                .call_method1("asarray", (obj, &descr))?
                .cast_into::<PyUntypedArray>()?,
        };
        if !arr.dtype().is_equiv_to(&descr) {
            return Err(PyValueError::new_err(format!(
                "the stream holds {descr} pixels, not {} (convert with .astype)",
                arr.dtype()
            )));
        }
        if arr.shape() != self.shape.as_slice() {
            return Err(PyValueError::new_err(format!(
                "a frame is {:?} (C order), not {:?}",
                self.shape,
                arr.shape()
            )));
        }
        let own_pixels =
            contiguous_bytes(&arr, false).is_some_and(|(ptr, len)| self.overlaps_pixels(ptr, len));
        if own_pixels || contiguous_bytes(&arr, false).is_none() {
            // A view of the stream's own pixels (copied to memory of its own first), or not
            // C-contiguous (copied to C order).
            arr = arr
                .call_method1("copy", ("C",))?
                .cast_into::<PyUntypedArray>()?;
        }
        let (ptr, len) = contiguous_bytes(&arr, false)
            .filter(|&(_, len)| len == self.bytes)
            .ok_or_else(|| PyValueError::new_err("the frame is not contiguous after conversion"))?;
        Ok(Source {
            _arr: arr,
            ptr,
            len,
        })
    }
}

/// An array to copy one frame into, and its bytes.
pub struct Destination<'py> {
    arr: Bound<'py, PyUntypedArray>,
    ptr: *mut u8,
    len: usize,
}

impl<'py> Destination<'py> {
    /// The array's bytes, to fill (with the GIL released: the slice is plain memory).
    pub fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: `arr` (held by `self`, so alive and its buffer not freed or resized while the
        // slice lives) owns `len` contiguous, writeable bytes at `ptr`, disjoint from the mapped
        // pixels the copies read (checked in `destination`); u8 needs no alignment. The slice
        // borrows `self` mutably, so no second one exists. A Python thread writing `out` during
        // the copy races as it would with any numpy function that releases the GIL (module docs
        // of `array`).
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }

    /// The array.
    pub fn into_array(self) -> Bound<'py, PyUntypedArray> {
        self.arr
    }
}

/// One frame's bytes to write, kept alive by the array that holds them.
pub struct Source<'py> {
    _arr: Bound<'py, PyUntypedArray>,
    ptr: *mut u8,
    len: usize,
}

impl Source<'_> {
    /// The frame's bytes (read with the GIL released: the slice is plain memory).
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the array (held by `self`) holds `len` contiguous bytes at `ptr`, disjoint from
        // the mapped pixels the copy writes (`source` copies a view of them out first); u8 needs
        // no alignment; the slice lives no longer than `self` (see `Destination::bytes` on
        // concurrent writers).
        unsafe { std::slice::from_raw_parts(self.ptr.cast_const(), self.len) }
    }
}

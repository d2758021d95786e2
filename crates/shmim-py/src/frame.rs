//! Copying one frame between the stream and numpy arrays: out into a new array or the caller's
//! `out`, in from any array-like.
//!
//! The copies are `copy_nonoverlapping`s between the mapping and the array. An array can be a
//! view of this very mapping (`view()`, the array of a `with stream.write()` block), so the
//! array's byte range is checked against the mapped pixels first: an `out` that is the stream's
//! own pixels is refused, a frame to write that is them is copied out to a temporary first.

use numpy::{PyArrayDescr, PyArrayDescrMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

use crate::array::{contiguous_bytes, empty};
use crate::errors::to_py;

/// What a frame looks like to numpy: element type and C-order shape.
pub struct FrameShape {
    /// The pixels' dtype.
    pub descr: Py<PyArrayDescr>,
    /// Axis lengths, C order (reversed `size`).
    pub shape: Vec<usize>,
    /// Bytes of one frame.
    pub bytes: usize,
    /// Address range of the mapped pixels the frames are copied from and to.
    pub pixels: std::ops::Range<usize>,
}

impl FrameShape {
    /// The shape of `stream`'s frames.
    pub fn of(py: Python<'_>, stream: &shmim_core::Stream) -> PyResult<Self> {
        Ok(Self {
            descr: crate::dtype::descr(py, stream.datatype())?.unbind(),
            shape: stream.shape().iter().rev().map(|&s| s as usize).collect(),
            bytes: stream.geometry().frame_bytes(),
            pixels: match stream.live_pixels() {
                Ok(p) => p.as_ptr() as usize..p.as_ptr() as usize + p.len(),
                Err(_) => 0..0, // a GPU stream: every copy fails before touching memory
            },
        })
    }

    /// Whether `len` bytes at `ptr` share any byte with the mapped pixels.
    fn overlaps_pixels(&self, ptr: *const u8, len: usize) -> bool {
        let start = ptr as usize;
        start < self.pixels.end && self.pixels.start < start.saturating_add(len)
    }

    /// The array to copy a frame into: `out` (checked: an ndarray of this dtype and shape,
    /// C-contiguous, aligned and writeable) or a new one.
    fn target<'py>(
        &self,
        py: Python<'py>,
        out: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyUntypedArray>> {
        let descr = self.descr.bind(py);
        let Some(out) = out else {
            return empty(descr, &self.shape);
        };
        let arr = out.cast::<PyUntypedArray>().map_err(|_| {
            PyTypeError::new_err(format!(
                "out must be a numpy array, not {}",
                out.get_type().name().map_or("?".into(), |n| n.to_string())
            ))
        })?;
        if !arr.dtype().is_equiv_to(descr) || arr.shape() != self.shape.as_slice() {
            return Err(PyValueError::new_err(format!(
                "out is a {:?} {} array; a frame is {:?} {}",
                arr.shape(),
                arr.dtype(),
                self.shape,
                descr
            )));
        }
        Ok(arr.clone())
    }

    /// Copies a frame with `copy` (run with the GIL released) into `out` or a new array;
    /// returns the array and what `copy` returned (the frame number).
    pub fn copy_out<'py>(
        &self,
        py: Python<'py>,
        out: Option<&Bound<'py, PyAny>>,
        copy: impl FnOnce(&mut [u8]) -> shmim_core::Result<u64> + Send,
    ) -> PyResult<(Bound<'py, PyUntypedArray>, u64)> {
        let arr = self.target(py, out)?;
        let (ptr, len) = contiguous_bytes(&arr, true)
            .filter(|&(_, len)| len == self.bytes)
            .ok_or_else(|| {
                PyValueError::new_err(
                    "out must be C-contiguous, aligned and writeable (np.empty(shape, dtype) is)",
                )
            })?;
        if self.overlaps_pixels(ptr, len) {
            return Err(PyValueError::new_err(
                "out is a view of this stream's own pixels; read into another array",
            ));
        }
        // SAFETY: `arr` (referenced until we return) owns `len` contiguous, aligned, writeable
        // bytes at `ptr`, disjoint from the mapped pixels the copy reads (checked above). The
        // slice lives only during `copy`; no Python code runs in between, and a thread writing
        // `out` concurrently races as it would with any numpy function that releases the GIL
        // (module docs of `array`).
        let buf = unsafe { std::slice::from_raw_parts_mut(ptr, len) };
        let frame = py.detach(|| copy(buf)).map_err(to_py)?;
        Ok((arr, frame))
    }
}

impl FrameShape {
    /// `obj` as a C-contiguous array holding exactly one frame: an ndarray of the frame's dtype
    /// and shape (copied to C order if it is not), or any array-like numpy converts to one.
    /// Arrays of another dtype are refused, not cast.
    fn source<'py>(&self, obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyUntypedArray>> {
        let py = obj.py();
        let descr = self.descr.bind(py);
        let numpy = py.import("numpy")?;
        let arr = match obj.cast::<PyUntypedArray>() {
            Ok(a) => a.clone(),
            Err(_) => numpy
                .call_method1("asarray", (obj, descr))?
                .cast_into::<PyUntypedArray>()?,
        };
        if !arr.dtype().is_equiv_to(descr) {
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
        match contiguous_bytes(&arr, false) {
            // A view of the stream's own pixels: copied to memory of its own first.
            Some((ptr, len)) if self.overlaps_pixels(ptr, len) => Ok(numpy
                .call_method1("array", (arr,))?
                .cast_into::<PyUntypedArray>()?),
            Some(_) => Ok(arr),
            None => Ok(numpy
                .call_method1("ascontiguousarray", (arr,))?
                .cast_into::<PyUntypedArray>()?),
        }
    }

    /// Runs `write` (with the GIL released) on the bytes of `obj` as one frame (see `source`).
    pub fn copy_in<T: Send>(
        &self,
        obj: &Bound<'_, PyAny>,
        write: impl FnOnce(&[u8]) -> shmim_core::Result<T> + Send,
    ) -> PyResult<T> {
        let arr = self.source(obj)?;
        let (ptr, len) = contiguous_bytes(&arr, false)
            .filter(|&(_, len)| len == self.bytes)
            .ok_or_else(|| PyValueError::new_err("the frame is not contiguous after conversion"))?;
        // SAFETY: `arr` (referenced until we return) holds `len` contiguous, aligned bytes at
        // `ptr`, disjoint from the mapped pixels the copy writes (`source` copies a view of them
        // out first); the slice lives only during `write` (see `copy_out` on concurrent writers).
        let bytes = unsafe { std::slice::from_raw_parts(ptr.cast_const(), len) };
        obj.py().detach(|| write(bytes)).map_err(to_py)
    }
}

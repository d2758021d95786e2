//! What a Python object wraps until `close()`: the Rust value, or nothing once closed.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// A Rust value owned by a Python object, dropped by `close()` (releasing what it holds: a
/// mapping, a reader slot). Using it afterwards is a `ValueError`, as for a closed Python file.
pub struct Handle<T> {
    inner: Option<T>,
    what: &'static str,
}

impl<T> Handle<T> {
    /// An open handle; `what` names it in errors ("stream", "reader").
    pub fn new(value: T, what: &'static str) -> Self {
        Self {
            inner: Some(value),
            what,
        }
    }

    /// The value, unless closed.
    pub fn get(&self) -> PyResult<&T> {
        self.inner.as_ref().ok_or_else(|| closed(self.what))
    }

    /// The value, unless closed.
    pub fn get_mut(&mut self) -> PyResult<&mut T> {
        let what = self.what;
        self.inner.as_mut().ok_or_else(|| closed(what))
    }

    /// The value, now owned by the caller; the handle is closed.
    pub fn take(&mut self) -> PyResult<T> {
        self.inner.take().ok_or_else(|| closed(self.what))
    }

    /// The value, if open.
    pub fn as_ref(&self) -> Option<&T> {
        self.inner.as_ref()
    }

    /// Drops the value.
    pub fn close(&mut self) {
        self.inner = None;
    }

    /// Whether `close()` was called.
    pub fn is_closed(&self) -> bool {
        self.inner.is_none()
    }
}

fn closed(what: &str) -> PyErr {
    PyValueError::new_err(format!("I/O operation on a closed {what}"))
}

//! Times between Python and the stream header: timeouts in seconds, and `timespec` fields.

use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use shmim_core::Timespec;

/// A timeout in seconds (`None`: wait without limit) as a `Duration`; one too long to represent
/// is no limit either. Negative, NaN or infinite is a `ValueError` (no limit is `None`).
pub fn timeout(seconds: Option<f64>) -> PyResult<Option<Duration>> {
    match seconds {
        None => Ok(None),
        Some(s) if !s.is_finite() || s < 0.0 => Err(PyValueError::new_err(format!(
            "timeout must be a finite number of seconds >= 0, or None for no limit, not {s}"
        ))),
        Some(s) => Ok(Duration::try_from_secs_f64(s).ok()),
    }
}

/// A consistent read's bound in seconds as a `Duration`: finite and >= 0 (a `ValueError`
/// otherwise: a read facing a writer stuck for good must end). One too long to represent is
/// the longest `Duration`; the read stays interruptible (it is sliced).
pub fn read_timeout(seconds: f64) -> PyResult<Duration> {
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(PyValueError::new_err(format!(
            "read_timeout must be a finite number of seconds >= 0, not {seconds}"
        )));
    }
    Ok(Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX))
}

/// A `timespec` in seconds (for `Metadata`): the header's clock (CLOCK_TAI for shmim writers).
pub fn seconds(t: Timespec) -> f64 {
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// An acquisition time given by Python: seconds since the epoch (a number), a `datetime`
/// (its `.timestamp()`), or a `(seconds, nanoseconds)` pair.
pub fn timespec(obj: &Bound<'_, PyAny>) -> PyResult<Timespec> {
    if let Ok(pair) = obj.cast::<PyTuple>() {
        let (tv_sec, tv_nsec): (i64, i64) = pair.extract()?;
        if !(0..1_000_000_000).contains(&tv_nsec) {
            return Err(PyValueError::new_err(format!(
                "nanoseconds must be in 0..1e9, not {tv_nsec}"
            )));
        }
        return Ok(Timespec { tv_sec, tv_nsec });
    }
    let secs: f64 = if obj.hasattr("timestamp")? {
        obj.call_method0("timestamp")?.extract()?
    } else {
        obj.extract()?
    };
    if !secs.is_finite() || secs.abs() > 9.0e15 {
        return Err(PyValueError::new_err(format!(
            "atime must be a finite time in seconds, not {secs}"
        )));
    }
    let whole = secs.floor();
    let nanos = ((secs - whole) * 1e9).round() as i64;
    // Rounding can carry into the next second.
    let (tv_sec, tv_nsec) = if nanos >= 1_000_000_000 {
        (whole as i64 + 1, nanos - 1_000_000_000)
    } else {
        (whole as i64, nanos)
    };
    Ok(Timespec { tv_sec, tv_nsec })
}

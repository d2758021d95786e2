//! Publishing a frame: `UpdateIm`.

use std::ffi::c_long;

use shmim_layout::Timespec;

use crate::error_codes::*;
use crate::handle::with_stream;
use crate::image_struct::IMAGE;
use crate::report::boundary;

/// Publishes the frame the caller wrote into `array`: nothing unless `md->shared` is 1; else,
/// in this order, the circular-buffer copy (if `CBsize` > 0), `writetime` and `atime` = now,
/// `cnt0 += 1`, `write = 0`, then every semaphore below `SEMAPHORE_MAXVAL` and the log semaphore.
/// The legacy idiom `im.md->write = 1; memcpy(im.array.F, …); ImageStreamIO_UpdateIm(&im);`
/// works unchanged.
///
/// # Safety
/// `image` must be NULL or an open `IMAGE` filled by this library.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ImageStreamIO_UpdateIm(image: *mut IMAGE) -> c_long {
    // SAFETY: forwarded to the caller.
    unsafe { update(c"ImageStreamIO_UpdateIm", image, None) }
}

/// [`ImageStreamIO_UpdateIm`] with the acquisition time `atime` (NULL: now).
///
/// # Safety
/// `image` must be NULL or an open `IMAGE` filled by this library; `atime` NULL or readable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ImageStreamIO_UpdateIm_atime(
    image: *mut IMAGE,
    atime: *mut libc::timespec,
) -> c_long {
    let atime = if atime.is_null() {
        None
    } else {
        // SAFETY: readable by the caller's contract.
        let t = unsafe { atime.read() };
        Some(Timespec {
            tv_sec: t.tv_sec,
            tv_nsec: t.tv_nsec,
        })
    };
    // SAFETY: forwarded to the caller.
    unsafe { update(c"ImageStreamIO_UpdateIm_atime", image, atime) }
}

/// # Safety
/// As for [`ImageStreamIO_UpdateIm`].
unsafe fn update(
    func: &'static std::ffi::CStr,
    image: *mut IMAGE,
    atime: Option<Timespec>,
) -> c_long {
    boundary(func, c_long::from, || {
        // SAFETY: forwarded to the caller.
        let frame = unsafe {
            with_stream(image, |view| match view {
                // A process-local image: `md->shared` is 0, so nothing to do (legacy rule).
                None => Ok(None),
                Some(view) => Ok(view.update(atime)?),
            })
        }?;
        #[cfg(feature = "writehistory")]
        if let Some(frame) = frame {
            // SAFETY: forwarded to the caller.
            unsafe { record_write(&crate::handle::read_image(image)?, frame) }?;
        }
        #[cfg(not(feature = "writehistory"))]
        let _ = frame;
        Ok(c_long::from(IMAGESTREAMIO_SUCCESS))
    })
}

/// The write-history entry of frame `frame` (`IMAGESTRUCT_WRITEHISTORY` builds), as the legacy
/// `UpdateIm` records it: the next slot of the 100 (`wCBindex`, counting wraps in `wCBcycle`)
/// gets the frame's `cnt0`, `writetime` and this process. Written after the frame is published
/// and posted (legacy: just before the posts), so a reader woken by this frame may find the
/// entry a moment later.
///
/// # Safety
/// As for [`ImageStreamIO_UpdateIm`].
#[cfg(feature = "writehistory")]
unsafe fn record_write(im: &IMAGE, frame: u64) -> crate::report::Outcome<()> {
    use crate::handle::{live, write_history};
    use crate::image_struct::IMAGESTRUCT_FRAMEWRITEMDSIZE as SLOTS;
    use shmim_sync::Field;
    // SAFETY: forwarded to the caller.
    let history = unsafe { write_history(im) }?;
    let md = im.md;
    // SAFETY: the header `write_history` accepted (mapped for the call), and entry `slot` of the
    // 100 it placed inside the mapping; shared fields are accessed atomically only.
    unsafe {
        let (index, cycle) = (
            Field::new(&raw mut (*md).wCBindex),
            Field::new(&raw mut (*md).wCBcycle),
        );
        let mut slot = index.peek().wrapping_add(1);
        if slot >= SLOTS {
            slot = 0;
            cycle.set(cycle.peek().wrapping_add(1));
        }
        index.set(slot);
        let entry = history.add(slot as usize);
        Field::new(&raw mut (*entry).cnt0).set(frame);
        Field::new(&raw mut (*entry).wpid).set(shmim_sync::pid::current());
        let (sec, nsec) = (
            live(&raw mut (*md).writetime.tv_sec),
            live(&raw mut (*md).writetime.tv_nsec),
        );
        Field::new(&raw mut (*entry).writetime.tv_sec).set(sec);
        Field::new(&raw mut (*entry).writetime.tv_nsec).set(nsec);
    }
    Ok(())
}

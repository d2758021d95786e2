//! Writing the initial state of a stream into fresh memory, as the legacy library does
//! (format.md, "State of a freshly created stream"), with the version string last.

use shmim_layout::{IMAGESTRUCT_VERSION, ImageKeyword, ImageMetadata, StreamProcTrace, write_cstr};
use shmim_sync::semaphore::Semaphore;

use crate::error::Result;
use crate::mapping::{Mapping, now};
use crate::spec::StreamSpec;

/// Fills a zeroed, not yet visible stream memory. The caller guarantees no other process uses
/// it yet (a temporary file, or heap memory).
pub(crate) fn initialise(
    map: &Mapping,
    name: &str,
    spec: &StreamSpec,
    shared: bool,
    inode: u64,
) -> Result<()> {
    let g = map.geometry();
    let created = now();
    let mut md: ImageMetadata = bytemuck::Zeroable::zeroed();
    write_cstr(&mut md.name, name.as_bytes()).expect("validated name fits");
    md.naxis = g.naxis;
    md.size = g.size;
    md.nelement = g.regions.nelement;
    md.datatype = g.datatype.code();
    md.imagetype = spec.imagetype;
    md.creationtime = created;
    md.lastaccesstime = created;
    md.creator_pid = shmim_sync::pid::current();
    md.shared = u8::from(shared);
    md.inode = inode;
    md.location = spec.location;
    md.sem = g.nb_sem;
    md.nb_proctrace = g.nb_proctrace;
    md.nb_kw = g.nb_kw;
    md.cb_size = g.cb_size;
    md.imdatamemsize = g.regions.imdatamemsize;
    // SAFETY: the memory is ours alone until it is published (caller contract), the header slot
    // is aligned and in bounds.
    unsafe { map.md_ptr().write(md) };
    for i in 0..g.nb_kw {
        // SAFETY: in-bounds entry of unpublished memory.
        unsafe { map.keyword_ptr(i)?.write(ImageKeyword::empty()) };
    }
    for i in 0..g.nb_sem {
        init_semaphore(map.sem(i)?)?;
        map.sem_read_pid(i)?.set(-1);
        map.sem_write_pid(i)?.set(-1);
    }
    // The legacy library leaves the log semaphore all zero (process-private); shmim makes it
    // process-shared like the others, so a waiter in another process can be woken.
    init_semaphore(map.semlog())?;
    for i in 0..g.nb_proctrace {
        // SAFETY: in-bounds entry of unpublished memory.
        unsafe { map.proctrace_ptr(i)?.write(StreamProcTrace::fresh()) };
    }
    // The legacy ready marker, last: a process that maps the file before this sees no version.
    let mut version = [0u8; 32];
    write_cstr(&mut version, IMAGESTRUCT_VERSION.as_bytes()).expect("fits");
    map.copy_in(0, &version);
    Ok(())
}

/// `sem_init` of a slot of unpublished memory, process-shared, value `SEMAPHORE_INITVAL`.
fn init_semaphore(sem: Semaphore<'_>) -> Result<()> {
    // SAFETY: an aligned, in-bounds slot of memory nobody else uses yet (caller contract of
    // `initialise`), so nobody waits on it.
    #[cfg(not(miri))]
    unsafe {
        Semaphore::init(sem.as_ptr().cast(), shmim_layout::SEMAPHORE_INITVAL)?
    };
    // Miri cannot call glibc. Its runs (process-local streams) keep the zeroed slot: a valid
    // semaphore of value 0, which posts and `try_wait` handle with plain atomics.
    #[cfg(miri)]
    let _ = sem;
    Ok(())
}

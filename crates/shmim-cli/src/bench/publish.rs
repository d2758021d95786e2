//! Publishing a frame with no pixels to copy: the fixed cost of every frame, against what the
//! same work costs with bare system primitives.
//!
//! shmim: `stream.write()` + `guard.commit()` on a stream with the default 10 semaphores and no
//! reader (take the flag, times, `cnt0`, clear the flag, post 10 semaphores + the log semaphore).
//! Baseline: one `clock_gettime` and 10 glibc `sem_post`s on process-shared semaphores, the
//! system calls-free part of the legacy `UpdateIm` (which also calls `getpid()` per semaphore).
//! With no reader consuming, the stream's semaphores sit at `SEMAPHORE_MAXVAL` after ten frames,
//! so its posts take the saturated path (a load, no compare-and-swap); the baseline's keep
//! counting up. The row is the no-reader fast path, as labelled.

use std::hint::black_box;
use std::path::Path;

use rustix::time::{ClockId, clock_gettime};
use shmim_core::{Datatype, Stream, StreamSpec};

use super::copy::per_op_ns;
use super::pingpong::{SEM_ROW, SEM_ROW_LEN, SharedPage};
use super::{Effort, Figure, Row};
use crate::failure::{Failure, Result};

pub fn rows(dir: &Path, effort: &Effort) -> Result<Vec<Row>> {
    let spec = StreamSpec::new(&[16], Datatype::Float).dir(dir);
    let mut stream = Stream::create("publish", &spec)?;
    let path = dir.join("publish-baseline");
    let page = SharedPage::create(&path)?;
    let mut errors = 0u64;
    let [shmim, base] = per_op_ns(
        effort.rounds,
        2_000,
        [
            &mut || match stream.write() {
                Ok(g) => {
                    if g.commit().is_err() {
                        errors += 1;
                    }
                }
                Err(_) => errors += 1,
            },
            &mut || {
                black_box(clock_gettime(ClockId::Tai));
                for i in 0..SEM_ROW_LEN {
                    page.glibc_post(SEM_ROW + 64 * i);
                }
            },
        ],
    );
    if errors > 0 {
        return Err(Failure::new(format!(
            "bench: {errors} failed publishes in {}",
            dir.display()
        )));
    }
    stream.destroy()?;
    let _ = std::fs::remove_file(&path);
    Ok(vec![Row::new(
        "publish: guard + commit, 10 sems, no reader".into(),
        Figure {
            ns: shmim,
            p99: None,
        },
        "clock_gettime + 10 sem_post",
        Figure {
            ns: base,
            p99: None,
        },
    )])
}

//! Proc-trace entries (`STREAM_PROC_TRACE`): which process triggers on, and writes to, the stream.
//!
//! The legacy library defines these entries and leaves their maintenance to its callers (milk's
//! process-info layer); shmim reads and writes whole entries, best-effort (no write flag guards
//! them in the legacy protocol).

use shmim_layout::StreamProcTrace;

use crate::error::Result;
use crate::stream::Stream;

impl Stream {
    /// Proc-trace entry `index` as it is now.
    pub fn proc_trace(&self, index: u16) -> Result<StreamProcTrace> {
        let p = self.map.proctrace_ptr(index)?;
        let mut bytes = [0u8; core::mem::size_of::<StreamProcTrace>()];
        self.map
            .copy_out_words(self.map.offset_of(p.cast()), &mut bytes);
        Ok(bytemuck::pod_read_unaligned(&bytes))
    }

    /// Writes proc-trace entry `index`.
    pub fn set_proc_trace(&self, index: u16, entry: &StreamProcTrace) -> Result<()> {
        let p = self.map.proctrace_ptr(index)?;
        self.map
            .copy_in_words(self.map.offset_of(p.cast()), bytemuck::bytes_of(entry));
        Ok(())
    }
}

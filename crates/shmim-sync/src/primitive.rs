//! The std/loom switch: protocol code uses these names, so the same code is shipped and
//! model-checked.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::fence;
// Unused in ThreadSanitizer builds, where the fences become read-modify-writes (write_flag.rs).
#[cfg(not(loom))]
#[cfg_attr(shmim_tsan, allow(unused_imports))]
pub(crate) use std::sync::atomic::fence;

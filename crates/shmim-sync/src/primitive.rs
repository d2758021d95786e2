//! The std/loom switch: protocol code uses these names, so the same code is shipped and
//! model-checked.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::fence;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::fence;

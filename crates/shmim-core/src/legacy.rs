//! Operations the legacy C API (`shmim-capi`) needs beyond the safe API, on streams obtained with
//! [`crate::Stream::borrow_raw`]. Hidden from the docs: Rust users have the typed API.

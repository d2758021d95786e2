//! Synchronisation on the frozen ImageStreamIO layout. Filled by issue 4.
#![deny(unsafe_op_in_unsafe_fn)]
#![allow(clippy::disallowed_types)]

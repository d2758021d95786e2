//! The safe Rust API for ImageStreamIO streams. Filled by issue 6.
#![deny(missing_docs)]

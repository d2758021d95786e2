//! Environment snapshot table. Filled by issue 5.
#![allow(clippy::disallowed_types)]

#![allow(non_snake_case)]
//! `libImageStreamIO`: the legacy C API on top of shmim. Filled by issue 7.

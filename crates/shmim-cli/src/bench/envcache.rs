//! Environment lookups: `shmim-envcache`'s snapshot table against `std::env::var_os`.

use std::hint::black_box;

use super::copy::per_op_ns;
use super::{Effort, Figure, Row};

/// The variable looked up: set in nearly every environment, so both sides return a value.
const VAR: &str = "PATH";

pub fn rows(effort: &Effort) -> Vec<Row> {
    // First read freezes the variable in the table; every later read is a hit.
    let _ = shmim_envcache::var_os(VAR);
    let batch = 2_000;
    let [cache, std_env] = per_op_ns(
        effort.rounds,
        batch,
        [
            &mut || {
                black_box(shmim_envcache::var_os(black_box(VAR)));
            },
            &mut || {
                black_box(std::env::var_os(black_box(VAR)));
            },
        ],
    );
    vec![Row::new(
        format!("envcache hit ({VAR})"),
        Figure {
            ns: cache,
            p99: None,
        },
        "std::env::var_os",
        Figure {
            ns: std_env,
            p99: None,
        },
    )]
}

//! Environment lookups: `shmim-envcache`'s snapshot table against `std::env::var_os`.

use std::hint::black_box;

use super::copy::per_op_ns;
use super::{Effort, Figure, Report, Row};

/// The variable looked up: set in nearly every environment, so both sides return a value.
const VAR: &str = "PATH";

pub fn measure(effort: &Effort, report: &mut Report) {
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
    report.rows.push(Row::new(
        "envcache",
        format!("envcache hit ({VAR})"),
        Figure::ns(cache),
        "std::env::var_os",
        Figure::ns(std_env),
    ));
}

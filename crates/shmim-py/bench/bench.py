"""Python against Rust, in the same run: `cargo xtask bench python [-- --quick] [-- --json]`.

1. Frame reads (64² and 512² float32, one process, one mapping): `Stream.read(out=buf)`,
   `Stream.read()`, `Reader.read(out=buf)` and the compat `SHM.get_data()` against the Rust
   `Stream::read_into` of the same frame into the same `buf`, timed in a Rust loop inside the
   extension (`shmim._native._rust_read_into_ns`). Every operation is timed over windows of the
   same length (200 µs), interleaved round by round; each figure is the median over rounds.
2. `view()` at 64², 512² and 2048²: O(1), the same cost whatever the frame size.
3. Wake latency: a `shmim write --pattern checksum` process stamps each frame with
   CLOCK_MONOTONIC just before it commits; a Rust reader (`shmim read --json`), the same Rust
   wait loop run inside this Python process (`shmim._native._rust_wake_ns`), and a Python
   reader (`reader.wait()`) in turn record wake time minus stamp. Runs alternate.

Targets (issue 17): read(out) <= 1.2x Rust read_into at 512²; per-frame overhead <= 5 µs at 64²;
view() O(1). Figures are reported as measured, with their ratio to the same-run baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import shmim
import shmim._native as native
from shmim.compat import SHM

MAGIC = int.from_bytes(b"shmimCK1", "little")


#: Length of one timed window. Short enough that a window is seldom preempted on a busy machine
#: (a preempted window inflates its ops by a whole time slice), long enough for the clock.
WINDOW_NS = 200_000


def calibrate(op) -> int:
    """How many calls of `op` fill about one window (at least 8)."""
    n = 8
    while True:
        t = time.perf_counter_ns()
        for _ in range(n):
            op()
        if time.perf_counter_ns() - t >= WINDOW_NS or n >= 1 << 20:
            return n
        n *= 2


def per_op_ns(ops: dict, rounds: int) -> dict:
    """Median ns per call of each operation over `rounds` rounds; each round times every op in
    turn over one window (so drifts in load hit all of them alike). An op that times itself (a
    Rust loop) returns its own figure: the median of those is taken instead."""
    counts = {k: calibrate(op) for k, op in ops.items()}
    samples = {k: [] for k in ops}
    for _ in range(rounds):
        for name, op in ops.items():
            n = counts[name]
            t = time.perf_counter_ns()
            for _ in range(n):
                own = op()
            elapsed = (time.perf_counter_ns() - t) / n
            samples[name].append(own if isinstance(own, float) else elapsed)
    return {k: statistics.median(v) for k, v in samples.items()}


def frame_reads(d: str, side: int, rounds: int) -> dict:
    s = shmim.Stream.create(f"b{side}", (side, side), np.float32, dir=d, replace=True)
    s.write_frame(np.random.default_rng(0).standard_normal((side, side), dtype=np.float32))
    reader = shmim.Stream.open(f"b{side}", dir=d).reader()
    shm = SHM(os.path.join(d, f"b{side}"))
    out = np.empty((side, side), np.float32)
    # The Rust loop reads into the same array, over a window of the same length.
    rust_iterations = calibrate(lambda: s.read(out=out))
    ops = {
        "rust": lambda: native._rust_read_into_ns(s, out, rust_iterations),
        "read(out)": lambda: s.read(out=out),
        "read()": lambda: s.read(),
        "reader.read(out)": lambda: reader.read(out=out),
        "get_data()": lambda: shm.get_data(),
    }
    med = per_op_ns(ops, rounds)
    shm.close()
    reader.close()
    s.destroy()
    return med


def view_cost(d: str, rounds: int) -> dict:
    res = {}
    for side in (64, 512, 2048):
        s = shmim.Stream.create(f"v{side}", (side, side), np.float32, dir=d, replace=True)
        res[side] = per_op_ns({"view": s.view}, rounds)["view"]
        s.destroy()
    return res


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] if xs else float("nan")


def writer(cli: str, d: str, name: str, frames: int, rate: int) -> subprocess.Popen:
    return subprocess.Popen(
        [cli, "--dir", d, "write", name, "--pattern", "checksum", "--rate", str(rate), "--count", str(frames)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def wake_rust(cli: str, d: str, frames: int, rate: int) -> list:
    rd = subprocess.Popen([cli, "--dir", d, "read", "wake", "--count", str(frames), "--timeout", "10", "--json"],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    probe = shmim.Stream.open("wake", dir=d)
    while not probe.registered_readers():
        time.sleep(0.005)
    w = writer(cli, d, "wake", frames * 2, rate)
    out, _ = rd.communicate(timeout=120)
    w.terminate()
    w.wait()
    return json.loads(out)["wake_ns"]


def wake_rust_in_python(cli: str, d: str, frames: int, rate: int) -> list:
    """The Rust reader loop, run inside this Python process (GIL released)."""
    s = shmim.Stream.open("wake", dir=d)
    w = writer(cli, d, "wake", frames * 2, rate)
    lat = native._rust_wake_ns(s, frames)
    w.terminate()
    w.wait()
    return lat


def wake_python(cli: str, d: str, frames: int, rate: int) -> list:
    s = shmim.Stream.open("wake", dir=d)
    reader = s.reader()
    buf = np.empty(s.shape, s.dtype)
    head = buf.reshape(-1).view(np.uint64)
    w = writer(cli, d, "wake", frames * 2, rate)
    lat = []
    seen = 0
    while seen < frames:
        woke = reader.wait(10.0)
        t = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        got = reader.read(out=buf)
        seen += 1
        if int(head[0]) == MAGIC and int(head[1]) == woke and head[2] > 0:
            lat.append(t - int(head[2]))
        del got
    w.terminate()
    w.wait()
    reader.close()
    return lat


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shmim", required=True, help="the shmim CLI (release build)")
    ap.add_argument("--quick", action="store_true", help="fewer rounds and frames")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    a = ap.parse_args()
    rounds = 5 if a.quick else 41
    wake_frames, wake_runs, rate = (200, 1, 500) if a.quick else (500, 4, 500)
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    d = tempfile.mkdtemp(prefix="shmim-pybench-", dir=base)
    try:
        reads = {side: frame_reads(d, side, rounds) for side in (64, 512)}
        views = view_cost(d, rounds)
        shmim.Stream.create("wake", (64, 64), np.float32, dir=d)
        rust_lat, inproc_lat, py_lat = [], [], []
        for _ in range(wake_runs):
            rust_lat += wake_rust(a.shmim, d, wake_frames, rate)
            inproc_lat += wake_rust_in_python(a.shmim, d, wake_frames, rate)
            py_lat += wake_python(a.shmim, d, wake_frames, rate)
    finally:
        shutil.rmtree(d, ignore_errors=True)

    wake = {
        who: {"p50_ns": percentile(x, 50), "p99_ns": percentile(x, 99), "samples": len(x)}
        for who, x in (("rust", rust_lat), ("rust in the python process", inproc_lat), ("python", py_lat))
    }
    figures = {"reads_ns": reads, "view_ns": views, "wake": wake, "python": sys.version.split()[0],
               "numpy": np.__version__}
    if a.json:
        print(json.dumps(figures, indent=2))
        return 0

    print(f"Python {figures['python']}, numpy {figures['numpy']}, shmim {shmim.__version__}\n")
    print(f"{'frame read (float32)':<34}{'ns':>10}{'x Rust':>9}{'+ns':>9}")
    for side, m in reads.items():
        rust = m["rust"]
        for k in ("rust", "read(out)", "read()", "reader.read(out)", "get_data()"):
            label = "Rust read_into" if k == "rust" else k
            print(f"{f'{side}² {label}':<34}{m[k]:>10.0f}{m[k] / rust:>9.2f}{m[k] - rust:>9.0f}")
    print()
    for side, ns in views.items():
        print(f"{f'view() {side}²':<34}{ns:>10.0f}{ns / views[64]:>9.2f}  (x view() 64²)")
    print()
    for who, w in wake.items():
        print(f"{f'wake {who}':<34}p50 {w['p50_ns'] / 1e3:7.1f} µs  p99 {w['p99_ns'] / 1e3:7.1f} µs"
              f"  ({w['samples']} frames)")
    r = wake["python"]["p50_ns"] / wake["rust"]["p50_ns"]
    print(f"{'wake p50 Python / Rust':<34}{r:>10.2f}")
    r2 = wake["python"]["p50_ns"] / wake["rust in the python process"]["p50_ns"]
    print(f"{'wake p50 Python / Rust loop in it':<34}{r2:>10.2f}")
    print()
    t512 = reads[512]["read(out)"] / reads[512]["rust"]
    o64 = reads[64]["read(out)"] - reads[64]["rust"]
    g64 = reads[64]["get_data()"] - reads[64]["rust"]
    o1 = views[2048] / views[64]
    print(f"target read(out) <= 1.2x Rust at 512²:  {t512:.2f}x  {'met' if t512 <= 1.2 else 'MISSED'}")
    print(f"target overhead <= 5 µs at 64²:         read(out) +{o64 / 1e3:.2f} µs, get_data() +{g64 / 1e3:.2f} µs"
          f"  {'met' if max(o64, g64) <= 5000 else 'MISSED'}")
    print(f"target view() O(1):                     2048² / 64² = {o1:.2f}  {'met' if o1 < 2 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

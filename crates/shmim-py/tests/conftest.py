"""Fixtures of the shmim Python tests: real stream directories, the `shmim` CLI, the C library
and a C peer program built against it, child Python processes.

The CLI and the installed C library come from the environment when `cargo xtask ci --only
python` runs the tests (`SHMIM_CLI`, `SHMIM_CAPI_PREFIX`); run by hand (`python -m pytest` in
crates/shmim-py), the fixtures build them with cargo. Nothing is skipped.
"""

from __future__ import annotations

import faulthandler
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = Path(os.environ.get("SHMIM_REPO", HERE.parents[2]))
sys.path.insert(0, str(HERE))

# A watchdog: a hung test dumps every thread's stack and fails the run instead of hanging CI.
faulthandler.dump_traceback_later(int(os.environ.get("SHMIM_PYTEST_WATCHDOG", "900")), exit=True)

#: Seconds a child process may take before the test calls it hung.
CHILD_DEADLINE = 60


def _cargo(*args: str) -> None:
    subprocess.run(["cargo", *args], cwd=REPO, check=True, timeout=1800)


@pytest.fixture
def stream_dir():
    """A private stream directory on tmpfs (/dev/shm) when there is one."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    d = tempfile.mkdtemp(prefix="shmim-py-", dir=base)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def shmim_cli() -> str:
    """Path to the `shmim` command-line tool."""
    exe = os.environ.get("SHMIM_CLI")
    if not exe:
        _cargo("build", "-p", "shmim-cli", "--bin", "shmim")
        exe = str(REPO / "target" / "debug" / "shmim")
    assert os.access(exe, os.X_OK), f"no shmim CLI at {exe}"
    return exe


@pytest.fixture(scope="session")
def capi_prefix(tmp_path_factory) -> Path:
    """An installation of libImageStreamIO (headers, libraries, pkg-config file)."""
    prefix = os.environ.get("SHMIM_CAPI_PREFIX")
    if not prefix:
        prefix = str(tmp_path_factory.mktemp("capi"))
        _cargo("xtask", "install", "--prefix", prefix, "--debug")
    return Path(prefix)


@pytest.fixture(scope="session")
def c_peer(capi_prefix, tmp_path_factory) -> str:
    """tests/c/peer.c built with cc and pkg-config against the installed library."""
    env = dict(os.environ, PKG_CONFIG_PATH=str(capi_prefix / "lib" / "pkgconfig"))
    flags = subprocess.run(
        ["pkg-config", "--cflags", "--libs", "ImageStreamIO"],
        env=env, check=True, capture_output=True, text=True,
    ).stdout.split()
    exe = tmp_path_factory.mktemp("peer") / "peer"
    subprocess.run(
        ["cc", "-O1", "-Wall", "-Werror", str(HERE / "c" / "peer.c"), *flags,
         f"-Wl,-rpath,{capi_prefix / 'lib'}", "-o", str(exe)],
        check=True,
    )
    return str(exe)


def python_child(script: str, *args: str, **popen) -> subprocess.Popen:
    """A child Python process running `script` (dedented) with this interpreter and package."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        stdin=popen.pop("stdin", subprocess.PIPE),
        stdout=popen.pop("stdout", subprocess.PIPE),
        stderr=popen.pop("stderr", subprocess.PIPE),
        text=True,
        **popen,
    )


def wait_or_kill(proc: subprocess.Popen) -> None:
    """Waits for the child under the deadline; a hung one is killed (it must not outlive the
    test it fails: one blocked in a read could spin on a CPU for as long as its bound) and the
    test fails with `TimeoutExpired`."""
    try:
        proc.wait(timeout=CHILD_DEADLINE)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


def expect_line(proc: subprocess.Popen, wanted: str) -> str:
    """Reads the child's stdout up to a line starting with `wanted` (EOF fails the test)."""
    seen = []
    while True:
        line = proc.stdout.readline()
        if not line:
            wait_or_kill(proc)
            err = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"child ended before {wanted!r}; stdout {seen}, stderr:\n{err}")
        line = line.rstrip("\n")
        seen.append(line)
        if line.startswith(wanted):
            return line


def finish(proc: subprocess.Popen) -> str:
    """Waits for the child (under the deadline) and checks it succeeded; returns the rest of its
    stdout. (Children here print little, so waiting before reading cannot fill a pipe; reading
    through the same file objects keeps what `expect_line` buffered.)"""
    if proc.stdin:
        proc.stdin.close()
    wait_or_kill(proc)
    out = proc.stdout.read() if proc.stdout else ""
    err = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == 0, f"child failed ({proc.returncode}):\n{out}\n{err}"
    return out


MID_FRAME = """
    import os, sys, shmim
    s = shmim.Stream.open(sys.argv[2], dir=sys.argv[1])
    a = s.write().__enter__()      # the write flag, taken and claimed
    a[...] = 99                    # half a frame
    print("holding", os.getpid(), flush=True)
    if sys.argv[3] == "die":
        os._exit(0)                # the writer dies mid-frame
    sys.stdin.readline()           # or holds on until told
"""


def writer_mid_frame(stream_dir: str, name: str, *, die: bool = False) -> tuple:
    """A child Python process inside a write block of stream `name`: it holds the flag until its
    stdin closes (`finish(child)`), or with `die` it exits without publishing. Returns the child
    (exited, with `die`) and its PID, once the flag is taken."""
    child = python_child(MID_FRAME, stream_dir, name, "die" if die else "hold")
    pid = int(expect_line(child, "holding").split()[1])
    if die:
        wait_or_kill(child)
    return child, pid

"""Python against the other implementations, across processes, with checksummed frames: the
`shmim` CLI (Rust) and a C program on the installed libImageStreamIO, in both directions."""

from __future__ import annotations

import json
import os
import subprocess
import time

import numpy as np
import pytest

import checksum
import shmim
from conftest import CHILD_DEADLINE, expect_line, finish

FRAMES = 300


def read_checksum_frames(reader: shmim.Reader, until: int) -> dict:
    """Reads frames as they come until frame `until`; counts whole and torn ones, and checks
    that the reader accounts for every frame: each one it returned (from a wait or a read) or
    counted as missed, none twice."""
    seen = {"whole": 0, "torn": 0, "plain": 0, "last": 0}
    returned = []
    while seen["last"] < until:
        try:
            returned.append(reader.wait(10.0))
        except TimeoutError:
            break
        kind, frame, _ = checksum.verify(reader.read())
        seen[kind] += 1
        if kind == "whole":
            assert frame == reader.last_frame, "a whole frame under another frame number"
            seen["last"] = frame
            returned.append(frame)
    distinct = sorted(set(returned))
    assert [n for n in returned if n in distinct] == sorted(returned), "frame numbers never go back"
    assert len(distinct) + reader.missed == reader.last_frame, "every frame returned or missed"
    return seen


def test_python_checksum_frames_are_the_clis(stream_dir, shmim_cli):
    s = shmim.Stream.create("ck", (40, 50), np.uint8, dir=stream_dir)
    subprocess.run([shmim_cli, "--dir", stream_dir, "write", "ck", "--pattern", "checksum",
                    "--rate", "0", "--count", "3"], check=True, capture_output=True, timeout=CHILD_DEADLINE)
    assert checksum.verify(s.read())[:2] == ("whole", 3)
    mine = np.empty((40, 50), np.uint8)
    checksum.fill(mine, 3)
    assert np.array_equal(mine.reshape(-1)[32:], s.read().reshape(-1)[32:])
    mine.reshape(-1)[1000] ^= 1
    assert checksum.verify(mine)[0] == "torn"


def test_cli_writer_frames_reach_a_python_reader_whole(stream_dir, shmim_cli):
    shmim.Stream.create("cli2py", (64, 64), np.float32, dir=stream_dir)
    reader = shmim.Stream.open("cli2py", dir=stream_dir).reader()
    writer = subprocess.Popen(
        [shmim_cli, "--dir", stream_dir, "write", "cli2py", "--pattern", "checksum", "--rate", "0",
         "--count", str(FRAMES)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    seen = read_checksum_frames(reader, FRAMES)
    finish(writer)
    assert seen["torn"] == 0 and seen["plain"] == 0
    assert seen["whole"] >= 1 and seen["last"] == FRAMES


def python_publish(stream: shmim.Stream, n: int, pause: float = 0.0) -> None:
    """Publishes checksum frames cnt0+1 … cnt0+n in place, stamped just before commit."""
    for _ in range(n):
        with stream.write() as a:
            checksum.fill(a, stream.cnt0 + 1)
            checksum.stamp(a)
        if pause:
            time.sleep(pause)


def test_python_writer_frames_reach_the_cli_reader_whole(stream_dir, shmim_cli):
    s = shmim.Stream.create("py2cli", (64, 64), np.float32, dir=stream_dir)
    reader = subprocess.Popen(
        [shmim_cli, "--dir", stream_dir, "read", "py2cli", "--count", str(FRAMES), "--timeout", "20",
         "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + CHILD_DEADLINE
    while not s.registered_readers():
        assert time.monotonic() < deadline, "the CLI reader never registered"
        time.sleep(0.01)
    # The reader stops after FRAMES distinct frames; it may miss some while busy, so publish
    # until it is done.
    while reader.poll() is None:
        assert time.monotonic() < deadline, "the CLI reader never finished"
        python_publish(s, 1, pause=0.0002)
    report = json.loads(finish(reader))
    assert report["torn_accepted"] == 0 and report["failed_reads"] == 0
    assert report["frames"] == report["verified"] == FRAMES


def test_c_writer_frames_reach_a_python_reader_whole(stream_dir, c_peer):
    shmim.Stream.create("c2py", (64, 64), np.uint32, dir=stream_dir)
    reader = shmim.Stream.open("c2py", dir=stream_dir).reader()
    writer = subprocess.Popen([c_peer, "write", "c2py", str(FRAMES), "100"],
                              env=dict(os.environ, MILK_SHM_DIR=stream_dir),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = read_checksum_frames(reader, FRAMES)
    assert f"done {FRAMES}" in finish(writer)
    assert seen["torn"] == 0 and seen["plain"] == 0
    assert seen["last"] == FRAMES


def test_python_writer_frames_reach_a_c_reader_whole(stream_dir, c_peer):
    s = shmim.Stream.create("py2c", (31, 17), np.int16, dir=stream_dir)
    reader = subprocess.Popen([c_peer, "read", "py2c", "100"],
                              env=dict(os.environ, MILK_SHM_DIR=stream_dir),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    expect_line(reader, "ready")
    for k in range(1, 101):
        python_publish(s, 1)
        # Lock-step: the C reader copies im.array with no consistency check of its own.
        assert expect_line(reader, "got") == f"got {k}"
    assert "verified 100" in finish(reader)


VALUES = {
    "LONG": (-(2**63), "most negative"),
    "BIG": (2**63 - 1, ""),
    "ZERO": (0, "zero"),
    "NPINT": (np.int32(-7), "numpy integer"),
    "FLAG": (True, "a bool is an integer"),
    "EXPTIME": (0.00125, "exposure [s]"),
    "NEG": (-1.5e-300, ""),
    "NPF": (np.float32(0.5), "numpy float"),
    "CAMERA": ("ocam2k", "detector"),
    "EMPTY": ("", "empty string"),
    "FULL": ("fifteen bytes!!", "x" * 79),
}


def expected_python(v):
    return int(v) if isinstance(v, (bool, np.integer)) else float(v) if isinstance(v, np.floating) else v


def test_keywords_of_every_type_written_by_python_are_read_by_c_and_the_cli(stream_dir, c_peer, shmim_cli):
    s = shmim.Stream.create("kw", (4,), np.uint8, keywords=len(VALUES), dir=stream_dir)
    kw = s.keywords
    for name, (value, comment) in VALUES.items():
        kw[name] = (value, comment)
    assert kw.to_dict() == {n: expected_python(v) for n, (v, _) in VALUES.items()}
    assert {type(v) for v in kw.values()} == {int, float, str}

    out = subprocess.run([c_peer, "keywords", "kw"], env=dict(os.environ, MILK_SHM_DIR=stream_dir),
                         check=True, capture_output=True, text=True, timeout=CHILD_DEADLINE).stdout
    c_side = {}
    for line in out.splitlines():
        name, kind, value, comment = line.split("|")
        c_side[name] = ({"L": int, "D": float, "S": str}[kind](value), comment)
    assert c_side == {n: (expected_python(v), c) for n, (v, c) in VALUES.items()}

    info = json.loads(subprocess.run([shmim_cli, "--dir", stream_dir, "info", "kw", "--json"],
                                     check=True, capture_output=True, text=True,
                                     timeout=CHILD_DEADLINE).stdout)
    cli_side = {k["name"]: (k["value"], k["comment"]) for k in info["keywords"]}
    assert cli_side == {n: (expected_python(v), c) for n, (v, c) in VALUES.items()}


def test_keywords_written_by_c_are_read_by_python(stream_dir, c_peer):
    s = shmim.Stream.create("kwc", (4,), np.uint8, keywords=3, dir=stream_dir)
    subprocess.run([c_peer, "setkw", "kwc"], env=dict(os.environ, MILK_SHM_DIR=stream_dir),
                   check=True, timeout=CHILD_DEADLINE)
    assert s.keywords.to_dict(comments=True) == {
        "GAIN": (-1234567890123, "from C"),
        "EXPTIME": (0.00125, ""),
        "CAMERA": ("ocam2k", "detector"),
    }


@pytest.mark.parametrize(
    "name, value, error",
    [
        ("TOOLONGNAME16BYT", 1, ValueError),
        ("S", "sixteen bytes!!!", ValueError),
        ("I", 2**63, OverflowError),
        ("L", [1], TypeError),
    ],
    ids=["name", "string", "int", "list"],
)
def test_keywords_that_do_not_fit_are_refused(stream_dir, name, value, error):
    s = shmim.Stream.create("kwbad", (4,), np.uint8, keywords=2, dir=stream_dir)
    with pytest.raises(error):
        s.keywords[name] = value
    assert len(s.keywords) == 0


def test_a_full_keyword_table_is_keywords_full_error(stream_dir):
    s = shmim.Stream.create("kwfull", (4,), np.uint8, keywords=1, dir=stream_dir)
    s.keywords["A"] = 1
    with pytest.raises(shmim.KeywordsFullError):
        s.keywords["B"] = 2
    del s.keywords["A"]
    s.keywords["B"] = 2
    assert dict(s.keywords) == {"B": 2}
    with pytest.raises(KeyError):
        del s.keywords["A"]

"""Registered readers: waits, frames, Ctrl-C, re-created streams, stuck and dead writers."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

import numpy as np
import pytest

import checksum
import shmim
from conftest import expect_line, finish, python_child, writer_mid_frame


def test_wait_returns_each_published_frame_number(stream_dir):
    s = shmim.Stream.create("r", (16,), np.uint32, dir=stream_dir)
    r = s.reader()
    assert r.slot == 0 and s.registered_readers() == [(0, os.getpid())]
    for k in range(1, 4):
        s.write_frame(np.full(16, k, np.uint32))
        assert r.wait(5.0) == k
        assert r.read().tolist() == [k] * 16
    assert r.try_wait() is None and r.missed == 0


def test_a_wait_with_nothing_published_times_out(stream_dir):
    r = shmim.Stream.create("r", (4,), np.uint8, dir=stream_dir).reader()
    with pytest.raises(TimeoutError, match="timed out"):
        r.wait(0.12)
    with pytest.raises(ValueError, match="timeout"):
        r.wait(-1.0)


def test_flush_drops_pending_posts_and_missed_counts_gaps(stream_dir):
    s = shmim.Stream.create("r", (4,), np.uint8, dir=stream_dir)
    r = s.reader()
    for _ in range(3):
        s.write_frame(np.zeros(4, np.uint8))
    assert s.semaphore_values()[r.slot] == 3
    assert r.flush() == 3 and r.try_wait() is None
    s.write_frame(np.zeros(4, np.uint8))
    assert r.wait(5.0) == 4 and r.missed == 3


def test_frames_yields_new_frames_and_ends_when_the_stream_goes_quiet(stream_dir):
    shmim.Stream.create("f", (8,), np.int64, dir=stream_dir)
    r = shmim.Stream.open("f", dir=stream_dir).reader()
    writer = python_child(
        """
        import sys, numpy as np, shmim
        s = shmim.Stream.open("f", dir=sys.argv[1])
        for k in range(1, 6):
            s.write_frame(np.full(8, k, np.int64))
            sys.stdin.readline()
        """,
        stream_dir,
    )
    got = []
    for frame in r.frames(timeout=2.0):
        got.append(int(frame[0]))
        writer.stdin.write("next\n")
        writer.stdin.flush()
    finish(writer)
    assert got == [1, 2, 3, 4, 5]


def test_frames_reuses_out(stream_dir):
    s = shmim.Stream.create("f", (8,), np.int64, dir=stream_dir)
    r = s.reader()
    out = np.empty(8, np.int64)
    s.write_frame(np.full(8, 3, np.int64))
    it = r.frames(timeout=0.1, out=out)
    assert next(it) is out and out[0] == 3
    assert list(it) == []


def test_a_wait_releases_the_gil(stream_dir):
    r = shmim.Stream.create("g", (4,), np.uint8, dir=stream_dir).reader()
    ticks = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(1)
            time.sleep(0.001)

    t = threading.Thread(target=tick)
    t.start()
    try:
        with pytest.raises(TimeoutError):
            r.wait(0.3)
    finally:
        stop.set()
        t.join()
    # The other thread ran while this one waited (it could not if the GIL were held).
    assert len(ticks) > 10


@pytest.mark.parametrize(
    "wait, again",
    [
        ("r.wait()", "r.wait(30)"),
        ("r.wait(3600)", "r.wait(30)"),
        ("next(iter(r.frames()))", "next(iter(r.frames(30)))"),
        ("shm.get_data(check=True, timeout=None)", "shm.get_data(check=True, timeout=30)"),
    ],
    ids=["wait", "wait-timeout", "frames", "compat-get-data"],
)
def test_ctrl_c_interrupts_a_blocked_wait_and_the_reader_stays_usable(stream_dir, wait, again):
    shmim.Stream.create("i", (4,), np.uint8, dir=stream_dir)
    child = python_child(
        f"""
        import sys, threading, numpy as np, shmim, shmim.compat
        d = sys.argv[1]
        r = shmim.Stream.open('i', dir=d).reader()
        shm = shmim.compat.SHM(d + '/i.im.shm')
        print("waiting", flush=True)
        try:
            {wait}
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        # The same reader waits again and gets the next frame.
        w = shmim.Stream.open('i', dir=d)
        threading.Timer(0.2, w.write_frame, [np.full(4, 7, np.uint8)]).start()
        {again}
        print("reusable", flush=True)
        """,
        stream_dir,
    )
    expect_line(child, "waiting")
    time.sleep(0.2)  # let it block in the wait
    child.send_signal(signal.SIGINT)
    # It ends (within a 50 ms slice; the deadline only catches a hang).
    out = finish(child)
    assert "interrupted" in out and "reusable" in out


ABANDONED = """
    import sys, numpy as np, shmim
    s = shmim.Stream.create("a", (4,), np.int64, dir=sys.argv[1])
    try:
        with s.write():
            raise RuntimeError  # abandoned: the flag stays set, claimed by this live process
    except RuntimeError:
        pass
"""


@pytest.mark.parametrize(
    "read",
    ["s.read()", "s.reader().read()", "s.metadata", "s.read(timeout=3600)"],
    ids=["stream-read", "reader-read", "metadata", "read-timeout-argument"],
)
def test_ctrl_c_interrupts_a_consistent_read_facing_a_stuck_writer(stream_dir, read):
    child = python_child(
        ABANDONED + f"""
    s = shmim.Stream.open("a", dir=sys.argv[1])
    s.read_timeout = 3600.0
    print("reading", flush=True)
    try:
        {read}
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    # The handle is usable afterwards.
    try:
        s.read(timeout=0.0)
    except shmim.WriterStuckError:
        print("still stuck", flush=True)
    """,
        stream_dir,
    )
    expect_line(child, "reading")
    time.sleep(0.2)
    child.send_signal(signal.SIGINT)
    out = finish(child)  # an unsliced read would hold on for the hour (the deadline fails it)
    assert "interrupted" in out and "still stuck" in out


@pytest.mark.parametrize("bad", [float("inf"), float("nan"), -1.0])
def test_a_read_bound_must_be_finite_and_not_negative(stream_dir, bad):
    s = shmim.Stream.create("rt", (4,), np.uint8, dir=stream_dir)
    r = s.reader()
    for target in (s, r):
        with pytest.raises(ValueError, match="finite"):
            target.read_timeout = bad
        with pytest.raises(ValueError, match="finite"):
            target.read(timeout=bad)
    with pytest.raises(ValueError, match="None for no limit"):
        r.wait(bad)
    assert s.read_timeout == r.read_timeout == 0.1


def test_a_stuck_read_raises_after_its_bound_with_the_whole_wait(stream_dir):
    child = python_child(ABANDONED + """
    print("abandoned", flush=True)
    sys.stdin.readline()
    """, stream_dir)
    expect_line(child, "abandoned")
    s = shmim.Stream.open("a", dir=stream_dir)
    with pytest.raises(shmim.WriterStuckError, match=r"claimed by PID \d+"):
        s.read(timeout=0.12)
    finish(child)


def test_frames_never_yields_a_frame_twice_when_the_writer_outruns_the_consumer(stream_dir, shmim_cli):
    shmim.Stream.create("fast", (32, 32), np.float32, dir=stream_dir)
    r = shmim.Stream.open("fast", dir=stream_dir).reader()
    writer = subprocess.Popen(
        [shmim_cli, "--dir", stream_dir, "write", "fast", "--pattern", "checksum", "--rate", "2000",
         "--count", "400"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    numbers = []
    for frame in r.frames(timeout=2.0):
        kind, number, _ = checksum.verify(frame)
        assert kind == "whole"
        numbers.append(number)
        time.sleep(0.004)  # slower than the writer: a backlog of saturated posts builds up
    finish(writer)
    assert numbers == sorted(set(numbers)), "frame numbers strictly increase"
    assert numbers[-1] == r.last_frame == 400
    assert len(numbers) + r.missed == 400, "missed counts every frame never yielded"


def test_frames_skips_to_the_newest_frame_of_a_backlog(stream_dir):
    s = shmim.Stream.create("b", (4,), np.int64, dir=stream_dir)
    r = shmim.Stream.open("b", dir=stream_dir).reader()
    it = r.frames(timeout=0.2)
    s.write_frame(np.full(4, 1))
    assert next(it)[0] == 1
    for k in (2, 3, 4):
        s.write_frame(np.full(4, k))
    assert [int(f[0]) for f in it] == [4]
    assert (r.missed, r.last_frame) == (2, 4)


def test_a_stream_re_created_under_a_waiting_reader_raises_replaced(stream_dir):
    s = shmim.Stream.create("re", (4,), np.uint8, dir=stream_dir)
    r = s.reader()
    child = python_child(
        """
        import sys, time, numpy as np, shmim
        time.sleep(0.2)
        shmim.Stream.create("re", (4,), np.uint8, dir=sys.argv[1], replace=True)
        """,
        stream_dir,
    )
    with pytest.raises(shmim.ReplacedError, match="re"):
        r.wait(30.0)
    finish(child)


def test_a_stream_deleted_under_a_waiting_reader_raises_removed(stream_dir):
    s = shmim.Stream.create("rm", (4,), np.uint8, dir=stream_dir)
    r = s.reader()
    threading.Timer(0.2, os.unlink, [s.path]).start()
    with pytest.raises(shmim.RemovedError, match="deleted"):
        r.wait(30.0)


@pytest.mark.parametrize("change, error", [("replace", shmim.ReplacedError), ("delete", shmim.RemovedError)])
def test_frames_raises_when_the_stream_is_re_created_or_deleted(stream_dir, change, error):
    s = shmim.Stream.create("fr", (4,), np.uint8, dir=stream_dir)
    r = s.reader()
    s.write_frame(np.ones(4, np.uint8))
    it = r.frames(timeout=30.0)
    assert next(it).tolist() == [1, 1, 1, 1]
    if change == "replace":
        act = lambda: shmim.Stream.create("fr", (4,), np.uint8, dir=stream_dir, replace=True)  # noqa: E731
    else:
        act = lambda: os.unlink(s.path)  # noqa: E731
    threading.Timer(0.2, act).start()
    with pytest.raises(error):
        next(it)
    # The reader still reads the file it mapped.
    assert r.read().tolist() == [1, 1, 1, 1]


def test_registering_on_a_replaced_stream_raises_replaced(stream_dir):
    old = shmim.Stream.create("re", (4,), np.uint8, dir=stream_dir)
    shmim.Stream.create("re", (4,), np.uint8, dir=stream_dir, replace=True)
    assert old.inode_changed()
    with pytest.raises(shmim.ReplacedError):
        old.reader()
    assert old.reopen() and not old.inode_changed()
    assert old.reader().slot == 0


def test_a_writer_stuck_mid_frame_raises_writer_stuck(stream_dir):
    s = shmim.Stream.create("stuck", (4,), np.uint8, dir=stream_dir)
    s.write_frame(np.ones(4, np.uint8))
    child, _ = writer_mid_frame(stream_dir, "stuck")
    s.read_timeout = 0.05
    with pytest.raises(shmim.WriterStuckError, match="writer stuck"):
        s.read()
    r = s.reader()
    r.read_timeout = 0.05
    with pytest.raises(shmim.WriterStuckError):
        r.read()
    # The best-effort metadata tells the state instead of failing.
    assert s.metadata.write
    child.stdin.close()
    child.wait(timeout=60)


def test_a_writer_that_died_mid_frame_raises_writer_died(stream_dir):
    s = shmim.Stream.create("stuck", (4,), np.uint8, dir=stream_dir)
    _, dead = writer_mid_frame(stream_dir, "stuck", die=True)
    s.read_timeout = 5.0
    with pytest.raises(shmim.WriterDiedError, match=rf"claim PID {dead} no longer runs.*stream.recover\(\)"):
        s.read()


def test_a_legacy_c_writer_holding_the_flag_raises_writer_stuck(stream_dir, c_peer):
    import subprocess

    s = shmim.Stream.create("stuck", (16,), np.uint32, dir=stream_dir)
    env = dict(os.environ, MILK_SHM_DIR=stream_dir)
    peer = subprocess.Popen([c_peer, "hold", "stuck"], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    expect_line(peer, "holding")
    s.read_timeout = 0.05
    with pytest.raises(shmim.WriterStuckError):
        s.read()
    peer.stdin.close()
    assert peer.wait(timeout=60) == 0
    assert not s.is_writing and s.read().shape == (16,)

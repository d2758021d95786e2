"""Threads sharing streams and readers: every call works from any thread, a blocked call ends
when another thread closes its object, and a write block never loses its frame to another
thread's call."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import shmim
from conftest import CHILD_DEADLINE, finish, writer_mid_frame


def run_threads(*targets) -> None:
    """Runs each target in a thread and re-raises the first exception one of them raised."""
    errors = []

    def wrap(t):
        def run():
            try:
                t()
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)
        return run

    threads = [threading.Thread(target=wrap(t)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(CHILD_DEADLINE)
        assert not t.is_alive(), "a thread hung"
    if errors:
        raise errors[0]


def block_writer(s, blocks: int, seconds: float, done: threading.Event, published: list):
    """A thread body: `blocks` `with s.write()` blocks (frame k: every pixel k, the block held
    `seconds`), each one's frame number appended to `published`; sets `done` at the end."""
    def write():
        try:
            for k in range(1, blocks + 1):
                w = s.write()
                with w as a:
                    a[:] = k
                    time.sleep(seconds)
                published.append(w.frame)
        finally:
            done.set()
    return write


def test_a_thread_reading_metadata_never_makes_another_threads_write_block_lose_its_frame(stream_dir):
    s = shmim.Stream.create("md", (4,), np.int64, dir=stream_dir)
    done = threading.Event()
    blocks = []
    writer = block_writer(s, 50, 0.001, done, blocks)

    def looker():
        while not done.is_set():
            s.metadata
            s.cnt0

    run_threads(writer, looker)
    assert blocks == list(range(1, 51)), "every block published its frame"
    assert not s.is_writing and s.read().tolist() == [50] * 4


def test_threads_share_a_stream_for_writing_and_reading(stream_dir):
    s = shmim.Stream.create("sh", (64,), np.uint32, dir=stream_dir)

    def writer():
        for k in range(1, 201):
            s.write_frame(np.full(64, k, np.uint32))

    def reader():
        for _ in range(200):
            frame = s.read()
            assert np.all(frame == frame[0]), "never torn"

    run_threads(writer, reader, reader)
    assert s.cnt0 == 200


def test_another_handle_of_this_process_cannot_write_during_a_write_block(stream_dir):
    a = shmim.Stream.create("two", (4,), np.uint8, dir=stream_dir)
    b = shmim.Stream.open("two", dir=stream_dir)
    with a.write() as pixels:
        pixels[:] = 1
        with pytest.raises(shmim.WriterBusyError):
            b.write_frame(np.full(4, 2, np.uint8))
        with pytest.raises(shmim.WriterBusyError):
            with b.recover():
                pass
    assert b.read().tolist() == [1, 1, 1, 1] and b.cnt0 == 1


def test_closing_a_reader_from_another_thread_ends_its_blocked_wait(stream_dir):
    r = shmim.Stream.create("cl", (4,), np.uint8, dir=stream_dir).reader()
    ended = []

    def consumer():
        try:
            for _ in r.frames(timeout=None):
                pass
        except ValueError as e:
            ended.append(str(e))

    t = threading.Thread(target=consumer)
    t.start()
    time.sleep(0.2)  # let it block
    r.close()
    t.join(CHILD_DEADLINE)  # ends within a slice; the deadline only catches a hang
    assert not t.is_alive()
    assert ended and "closed" in ended[0]
    assert r.closed


def test_closing_a_stream_from_another_thread_ends_its_blocked_read(stream_dir):
    shmim.Stream.create("stuck", (4,), np.uint8, dir=stream_dir)
    holder, _ = writer_mid_frame(stream_dir, "stuck")
    s = shmim.Stream.open("stuck", dir=stream_dir)
    s.read_timeout = 3600.0
    ended = []

    def reader():
        try:
            s.read()
        except ValueError as e:
            ended.append(str(e))

    t = threading.Thread(target=reader)
    t.start()
    time.sleep(0.2)
    s.close()
    t.join(CHILD_DEADLINE)
    assert not t.is_alive()
    assert ended and "closed" in ended[0]
    finish(holder)


def test_closing_the_stream_inside_its_write_block_abandons_the_frame(stream_dir):
    s = shmim.Stream.create("cw", (4,), np.uint8, dir=stream_dir)
    w = s.write()
    with pytest.raises(shmim.StreamError, match="closed inside"):
        with w as a:
            a[:] = 9
            s.close()
    assert w.frame is None
    other = shmim.Stream.open("cw", dir=stream_dir)
    assert other.is_writing, "the half frame is never published"
    # The abandoned flag is this process's: its next write publishes a whole frame.
    assert other.write_frame(np.full(4, 3, np.uint8)) == 1
    assert other.read().tolist() == [3, 3, 3, 3]


def test_a_thread_reads_while_another_thread_writes_in_with_blocks(stream_dir):
    s = shmim.Stream.create("wb", (64,), np.uint32, dir=stream_dir)
    done = threading.Event()
    reads, blocks = [], []
    writer = block_writer(s, 100, 0.0005, done, blocks)

    def reader():
        # Another thread's open block is a writer mid-frame: the read waits for it to end (as
        # through another handle), it does not fail at once.
        while not done.is_set():
            frame = s.read(timeout=CHILD_DEADLINE)
            assert np.all(frame == frame[0]), "never torn"
            reads.append(int(frame[0]))
            s.metadata

    run_threads(writer, reader)
    assert reads and reads == sorted(reads)
    assert blocks == list(range(1, 101)) and s.cnt0 == 100 and s.read().tolist() == [100] * 64


def test_a_read_from_another_thread_waits_for_the_open_block_and_gets_its_frame(stream_dir):
    s = shmim.Stream.create("wr", (4,), np.uint8, dir=stream_dir)
    got = []
    w = s.write()
    a = w.__enter__()
    t = threading.Thread(target=lambda: got.append(s.read(timeout=CHILD_DEADLINE).tolist()))
    t.start()
    time.sleep(0.2)  # the read is waiting
    a[:] = 7
    w.__exit__(None, None, None)
    t.join(CHILD_DEADLINE)
    assert not t.is_alive() and got == [[7, 7, 7, 7]] and w.frame == 1


def test_another_thread_cannot_write_through_the_handle_during_a_write_block(stream_dir):
    s = shmim.Stream.create("ww", (4,), np.uint8, dir=stream_dir)
    refused = []

    def other():
        for call in (lambda: s.write_frame(np.ones(4, np.uint8)), s.repost, s.reopen, s.write().__enter__):
            try:
                call()
            except shmim.WriterBusyError as e:
                refused.append(str(e))

    with s.write() as a:
        a[:] = 5
        run_threads(other)
    assert len(refused) == 4 and all("another thread" in e for e in refused), refused
    assert s.cnt0 == 1 and s.read().tolist() == [5] * 4


def test_closing_the_stream_inside_a_failing_write_block_keeps_the_blocks_exception(stream_dir):
    s = shmim.Stream.create("cf", (4,), np.uint8, dir=stream_dir)
    with pytest.raises(KeyError, match="the real error"):
        with s.write():
            s.close()
            raise KeyError("the real error")

"""Writers that died mid-frame: the evidence, the errors that name them, and taking over their
write flag with `stream.recover()` (and, in the compat layer, `set_data` doing it by itself)."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest

import shmim
from shmim.compat import SHM
from conftest import expect_line, finish, writer_mid_frame

def writer_dies_mid_frame(stream_dir: str, name: str) -> int:
    """A child process that takes the write flag, writes, and dies; returns its PID."""
    return writer_mid_frame(stream_dir, name, die=True)[1]


def test_a_dead_writers_flag_is_named_and_taken_over_by_recover(stream_dir):
    s = shmim.Stream.create("cam", (4,), np.int32, dir=stream_dir)
    r = s.reader()
    dead = writer_dies_mid_frame(stream_dir, "cam")
    with pytest.raises(shmim.WriterDiedError, match=rf"claim PID {dead} no longer runs.*recover"):
        s.read()
    with pytest.raises(shmim.WriterBusyError, match=rf"PID {dead} no longer runs.*recover"):
        s.write_frame(np.zeros(4, np.int32))
    w = s.recover()
    with w as a:
        a[:] = [1, 2, 3, 4]
    assert (w.frame, w.took_over) == (1, dead)
    assert r.wait(5.0) == 1 and r.read().tolist() == [1, 2, 3, 4]
    assert not s.is_writing
    # The stream is an ordinary one again.
    assert s.write_frame(np.zeros(4, np.int32)) == 2


def test_recover_refuses_a_live_writers_flag_unless_forced(stream_dir):
    s = shmim.Stream.create("live", (4,), np.uint8, dir=stream_dir)
    holder, pid = writer_mid_frame(stream_dir, "live")
    with pytest.raises(shmim.WriterBusyError, match="force=True"):
        with s.recover():
            pass
    assert s.is_writing
    w = s.recover(force=True)
    with w as a:
        a[:] = 5
    assert w.frame == 1 and w.took_over == pid
    finish(holder)


def test_recover_on_a_clear_flag_is_a_write(stream_dir):
    s = shmim.Stream.create("clear", (2,), np.uint8, dir=stream_dir)
    w = s.recover()
    with w as a:
        a[:] = 1
    assert (w.frame, w.took_over) == (1, None)


def test_compat_set_data_takes_over_a_dead_writers_flag(stream_dir, capsys):
    path = os.path.join(stream_dir, "dm")
    SHM(path, np.zeros((4, 4), np.float32)).close()
    dead = writer_dies_mid_frame(stream_dir, "dm")
    shm = SHM(path)
    shm.set_data(np.ones((4, 4), np.float32))  # pyMilk's write went through; so does this one
    assert f"writer PID {dead} died mid-frame" in capsys.readouterr().err
    assert np.all(shm.get_data() == 1) and shm.get_counter() == 2
    assert not shm.IMAGE.stream.is_writing


def test_compat_set_data_never_takes_a_live_legacy_writers_flag(stream_dir, c_peer):
    path = os.path.join(stream_dir, "busy")
    shm = SHM(path, np.arange(16, dtype=np.uint32))
    peer = subprocess.Popen([c_peer, "hold", "busy"], env=dict(os.environ, MILK_SHM_DIR=stream_dir),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    expect_line(peer, "holding")
    with pytest.raises(shmim.WriterBusyError, match="another writer holds the write flag"):
        shm.set_data(np.zeros(16, np.uint32))
    peer.stdin.close()
    assert peer.wait(timeout=60) == 0
    shm.set_data(np.zeros(16, np.uint32))
    assert shm.get_counter() == 2

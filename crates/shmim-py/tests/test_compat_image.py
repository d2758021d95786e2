"""`shmim.compat`: what pyMilk code reaches through `SHM.IMAGE` (semaphores by index, keyword
entries, proc trace, numpy conversion), semaphore slots shared per process, `get_crop`,
`save_as_fits`, and a stuck writer under a polling loop."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import shmim
from shmim import _shapes
from shmim.compat import SHM, Image_kw
from conftest import CHILD_DEADLINE, expect_line, finish, python_child


def test_every_shm_of_a_process_shares_its_semaphore_slot(stream_dir):
    path = os.path.join(stream_dir, "cam")
    w = SHM(path, np.zeros((4, 4), np.float32))
    readers = [SHM(path) for _ in range(12)]  # more than the stream's 10 slots
    assert {r.semID for r in readers} == {0}
    assert w.IMAGE.semReadPID[0] == os.getpid() and w.IMAGE.semReadPID[1:] == [0] * 9
    w.set_data(np.ones((4, 4), np.float32))
    assert np.all(readers[-1].get_data(check=True, checkSemAndFlush=False, timeout=5.0) == 1)


HOLD_SLOTS = """
    import sys, shmim
    s = shmim.Stream.open("cam", dir=sys.argv[1])
    readers = [s.reader() for _ in range(int(sys.argv[2]))]
    print("holding", flush=True)
    sys.stdin.readline()
"""


@pytest.mark.parametrize("semaphores", [2, 0], ids=["all-taken", "none"])
def test_no_free_semaphore_slot_is_a_timeout_not_an_error(stream_dir, semaphores, capsys):
    s = shmim.Stream.create("cam", (4,), np.int16, semaphores=semaphores, dir=stream_dir)
    s.write_frame(np.arange(4, dtype=np.int16))
    holder = python_child(HOLD_SLOTS, stream_dir, str(semaphores))
    expect_line(holder, "holding")
    shm = SHM(os.path.join(stream_dir, "cam"))
    assert shm.semID == -1
    assert shm.get_data(check=True, timeout=0.1).tolist() == [0, 1, 2, 3]
    assert shm.get_data(check=True, timeout=0.1, return_none_on_timeout=True) is None
    assert [f.tolist() for f in shm.multi_recv_data(2, timeout=0.1)] == [[0, 1, 2, 3]] * 2
    assert not shm.check_sem_trywait() and not shm.check_sem_timedwait(0.05)
    assert shm.check_sem_value() == -1
    out = capsys.readouterr().out
    assert out.count("timed out and returned old data") == 4 and "no semaphore slot" in out
    finish(holder)
    if semaphores:
        # Slots freed since: the next call finds one.
        shm.get_data(check=True, timeout=0.05)
        assert shm.semID >= 0


def test_image_semaphore_calls_keep_the_c_semantics(stream_dir):
    path = os.path.join(stream_dir, "sem")
    w = SHM(path, np.zeros(4, np.uint8))
    r = SHM(path)
    img = r.IMAGE
    assert img.semvalue(r.semID) == 0, "a newly claimed slot starts flushed"
    unclaimed = img.semvalue(1)  # posted by the first frame, read by nobody
    assert img.sempost(r.semID) == 0 and img.sempost() == 0  # one, then every semaphore
    assert img.semvalue(r.semID) == 2 and img.semvalue(1) == unclaimed + 1
    assert img.semWritePID[r.semID] == os.getpid()
    # A post is a post: the waits take both, no frame came with them.
    assert img.semtrywait(r.semID) == 0 and img.semtimedwait(r.semID, 1.0) == 0
    assert img.semtrywait(r.semID) == -1 and img.semtimedwait(r.semID, 0.05) == -1
    assert img.semflush(-1) == 0 and img.semvalue(1) == 0
    assert img.sempost(10) == 1 and img.semtrywait(-1) == 1
    w.set_data(np.ones(4, np.uint8))
    assert img.semwait(r.semID) == 0


def test_image_proc_trace_entry(stream_dir):
    shm = SHM(os.path.join(stream_dir, "pt"), np.zeros(2, np.uint8))
    trace = shm.IMAGE.streamproctrace0
    assert trace.trigger_semindex == -1 and trace.pid_write in (0, os.getpid())
    assert isinstance(trace.ts_procstart, float) and trace.cnt0 >= 0


def test_image_keyword_entries(stream_dir):
    shm = SHM(os.path.join(stream_dir, "kw"), np.zeros(2, np.uint8), nbkw=4)
    img = shm.IMAGE
    img.set_kws_list([Image_kw("B", 2, "second"), Image_kw("A", 1.5), Image_kw("C", "three")])
    assert [(k.name, k.type, k.value, k.comment) for k in img.get_kws_list()] == [
        ("B", "L", 2, "second"), ("A", "D", 1.5, ""), ("C", "S", "three", "")]
    assert img.get_kws()["A"].value == 1.5
    img.set_kws({"Z": Image_kw("Z", 9), "Y": Image_kw("Y", 8)})  # in name order, as the C++ map
    assert [k.name for k in img.get_kws_list()] == ["Y", "Z"]
    assert shm.get_keywords() == {"Y": 8, "Z": 9}
    with pytest.raises(shmim.KeywordsFullError):
        img.set_kws_list([Image_kw(f"K{i}", i) for i in range(5)])
    with pytest.raises(TypeError):
        Image_kw("L", [1])


def test_np_array_of_image_copies_or_views_as_asked(stream_dir):
    data = np.arange(6, dtype=np.float32).reshape(2, 3)
    shm = SHM(os.path.join(stream_dir, "arr"), data)
    c_side = np.array(shm.IMAGE)
    assert np.array_equal(c_side, data.T) and c_side.flags.writeable
    assert np.array(shm.IMAGE, dtype=np.float64).dtype == np.float64
    if np.lib.NumpyVersion(np.__version__) >= "2.0.0":
        live = np.array(shm.IMAGE, copy=False)
        assert not live.flags.writeable and not live.flags.owndata
        shm.set_data(data + 1)
        assert np.array_equal(live, (data + 1).T), "the live pixels, not a copy"
        with pytest.raises(ValueError, match="copy"):
            np.array(shm.IMAGE, dtype=np.float64, copy=False)


@pytest.mark.parametrize(
    "keywords, crop",
    [
        ({"PRD-MIN1": 10, "PRD-RNG1": 64, "PRD-MIN2": 20, "PRD-RNG2": 32}, (10, 73, 20, 51)),
        ({"CROP_OR1": 1, "CROP_EN1": 64, "CROP_OR2": 2, "CROP_EN2": 33}, (1, 64, 2, 33)),
        ({"x0": 4, "x1": 8, "y0": 5, "y1": 2}, (4, 11, 5, 6)),
        ({}, (0, 0, 6, 7)),
    ],
    ids=["prd", "crop", "old", "none"],
)
def test_get_crop_reads_the_crop_keywords(stream_dir, keywords, crop):
    shm = SHM(os.path.join(stream_dir, "crop"), np.zeros((6, 7), np.uint16), nbkw=8)
    shm.set_keywords(keywords)
    assert shm.get_crop() == crop


def test_save_as_fits_writes_the_c_side_image_through_astropy(stream_dir, shmim_cli, tmp_path):
    from astropy.io import fits

    for k, data in enumerate([np.array([[1, 2, 3], [4, 5, 6]], np.float32),
                              np.random.default_rng(1).standard_normal((5, 4, 3))]):
        shm = SHM(os.path.join(stream_dir, f"fits{k}"), data, symcode=3)
        path = str(tmp_path / f"f{k}.fits")
        assert shm.save_as_fits(path) == 0
        assert shm.save_as_fits(path) == 0, "replaces the file"
        on_disk = fits.getdata(path)
        decode = _shapes.decoder(data.ndim, 3, 0)
        assert np.array_equal(decode(on_disk), data), "pyMilk's fits.multi_read(symcode=3) gets it back"
        # cfitsio (the shmim CLI) reads the same image: the C-side array.
        subprocess.run([shmim_cli, "--dir", stream_dir, "load", path, f"back{k}"],
                       check=True, capture_output=True, timeout=CHILD_DEADLINE)
        back = shmim.Stream.open(f"back{k}", dir=stream_dir).read()
        assert np.array_equal(back, shm._encode_view(data))


def test_save_as_fits_without_astropy_is_a_clear_import_error(stream_dir):
    child = python_child(
        """
        import sys, numpy as np
        sys.modules["astropy"] = None  # as if it were not installed
        from shmim.compat import SHM
        shm = SHM(sys.argv[1] + "/nofits", np.zeros(2))
        try:
            shm.save_as_fits(sys.argv[1] + "/x.fits")
        except ImportError as e:
            print("ImportError", e)
        """,
        stream_dir,
    )
    out = finish(child)
    assert "ImportError" in out and "pip install astropy" in out and "shmim save" in out


class CountingReads:
    """Stands in for a SHM's native stream, recording the `timeout` of each read."""

    def __init__(self, stream):
        self._stream = stream
        self.timeouts = []

    def read(self, *args, timeout=None):
        self.timeouts.append(timeout)
        return self._stream.read(*args, timeout=timeout)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def test_a_stuck_writer_makes_get_data_warn_once_then_return_at_once(stream_dir, c_peer, capsys):
    path = os.path.join(stream_dir, "stuck")
    shm = SHM(path, np.arange(16, dtype=np.uint32))
    spy = CountingReads(shm._native)
    shm._native = spy
    peer = subprocess.Popen([c_peer, "hold", "stuck"], env=dict(os.environ, MILK_SHM_DIR=stream_dir),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    expect_line(peer, "holding")
    for _ in range(20):
        assert np.array_equal(shm.get_data(), np.arange(16))
    err = capsys.readouterr().err
    assert err.count("writer stuck") == 1, err
    # The first read waited its bound; the others made one attempt each (timeout 0).
    assert spy.timeouts == [None] + [0.0] * 19
    peer.stdin.close()
    assert peer.wait(timeout=60) == 0
    shm.set_data(np.zeros(16, np.uint32))
    assert shm.get_data().tolist() == [0] * 16 and spy.timeouts[-1] is None
    assert capsys.readouterr().err == ""

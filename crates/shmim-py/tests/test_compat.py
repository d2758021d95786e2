"""`shmim.compat.SHM`: pyMilk's class and its semantics."""

from __future__ import annotations

import datetime
import itertools
import os
import subprocess
import threading

import numpy as np
import pytest

import shmim
from shmim.compat import SHM, AutoRelinkSizeError, AutoRelinkTypeError, check_SHM_name
from conftest import CHILD_DEADLINE, expect_line, finish, python_child

SHAPES = [(3,), (2, 3), (2, 3, 4), (3, 4, 5), (5, 6, 7)]


def c_side_reference(py: np.ndarray, symcode: int, tri_dim: int) -> np.ndarray:
    """Where each Python-side element lands on the C side, computed element by element from the
    definitions (not with the slicing the package uses): the image axes are transposed when
    symcode & 4, then the first image axis is reversed when symcode & 1 and the second when
    symcode & 2; cubes keep their stack axis last (triDim 0, 1) or first (2, 3) on the Python
    side and move it to the other end when the triDim says so (1: last → first, 3: first → last).
    """
    if py.ndim == 1:
        return py.copy()
    stack_first = py.ndim == 3 and tri_dim in (2, 3)
    img = (1, 2) if stack_first else (0, 1)
    out_shape = list(py.shape)
    if symcode & 4:
        out_shape[img[0]], out_shape[img[1]] = out_shape[img[1]], out_shape[img[0]]
    if py.ndim == 3 and tri_dim == 1:
        out_shape = [out_shape[2], out_shape[0], out_shape[1]]
    if py.ndim == 3 and tri_dim == 3:
        out_shape = [out_shape[1], out_shape[2], out_shape[0]]
    out = np.empty(out_shape, py.dtype)
    for idx in np.ndindex(*py.shape):
        c = list(idx)
        if symcode & 4:
            c[img[0]], c[img[1]] = c[img[1]], c[img[0]]
        after_t = list(py.shape)
        if symcode & 4:
            after_t[img[0]], after_t[img[1]] = after_t[img[1]], after_t[img[0]]
        if symcode & 1:
            c[img[0]] = after_t[img[0]] - 1 - c[img[0]]
        if symcode & 2:
            c[img[1]] = after_t[img[1]] - 1 - c[img[1]]
        if py.ndim == 3 and tri_dim == 1:
            c = [c[2], c[0], c[1]]
        if py.ndim == 3 and tri_dim == 3:
            c = [c[1], c[2], c[0]]
        out[tuple(c)] = py[idx]
    return out


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_data_is_conserved_for_every_shape_symcode_and_tridim(stream_dir, shape):
    path = os.path.join(stream_dir, "conserve.im.shm")
    rng = np.random.default_rng(len(shape))
    for symcode, tri in itertools.product(range(8), range(4)):
        data = rng.standard_normal(shape)
        writer = SHM(path, data, symcode=symcode, triDim=tri)
        reader = SHM(path, symcode=symcode, triDim=tri)
        case = (shape, symcode, tri)
        assert reader.shape == writer.shape == shape, case
        assert reader.shape_c == writer.shape_c, case
        assert np.array_equal(reader.get_data(), data), case
        # The file holds the C-side array in Fortran order (size[0] fastest).
        c_side = c_side_reference(data, symcode, tri)
        assert writer.shape_c == c_side.shape, case
        assert np.array_equal(shmim.Stream.open(path).read().T, c_side), case
        back = rng.standard_normal(shape)
        reader.set_data(back)
        assert np.array_equal(writer.get_data(), back), case
        reader.close()
        writer.destroy()


def test_default_symcode_4_keeps_a_2d_array_in_numpy_order(stream_dir):
    data = np.arange(12, dtype=np.float32).reshape(3, 4)
    SHM(os.path.join(stream_dir, "img"), data)
    native = shmim.Stream.open("img", dir=stream_dir)
    assert native.shape == (3, 4) and np.array_equal(native.read(), data)


def test_auto_squeeze_drops_and_restores_length_1_axes(stream_dir):
    s = shmim.Stream.create("sq", (4, 1, 3), np.int16, dir=stream_dir)  # size (3, 1, 4)
    squeezed = SHM(os.path.join(stream_dir, "sq"))
    full = SHM(os.path.join(stream_dir, "sq"), autoSqueeze=False)
    assert squeezed.shape_c == full.shape_c == (3, 1, 4)
    assert squeezed.shape == (4, 3) and full.shape == (1, 3, 4)
    img = np.arange(12, dtype=np.int16).reshape(4, 3)
    squeezed.set_data(img)
    assert np.array_equal(squeezed.get_data(), img)
    assert np.array_equal(s.read()[:, 0, :], img)


def test_the_first_frame_is_published_at_creation(stream_dir):
    shm = SHM(os.path.join(stream_dir, "first"), ((5, 6), np.uint16), nbkw=7)
    md = shm.IMAGE.md
    assert (md.cnt0, md.cnt1, md.NBkw, md.size, md.naxis) == (1, 1, 7, [6, 5], 2)
    assert md.inode == os.stat(shm.FILEPATH).st_ino
    assert shm.nptype == np.uint16 and shm.get_counter() == 1
    assert isinstance(md.acqtime, datetime.datetime)


def test_set_data_casts_only_with_check_dt(stream_dir):
    shm = SHM(os.path.join(stream_dir, "cast"), np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError):
        shm.set_data(np.ones((2, 2), np.float64))
    with pytest.raises(ValueError):
        shm.set_data(np.ones((3, 2), np.float32))
    shm.set_data(np.ones((2, 2), np.float64), check_dt=True)
    assert shm.get_data().dtype == np.float32 and shm.get_counter() == 2


def test_keywords_the_pymilk_way(stream_dir):
    path = os.path.join(stream_dir, "kw")
    w = SHM(path, np.zeros((4, 4)), nbkw=5)
    w.set_keywords({"yo": ("lo", "a comment"), "toto": 17, "arthur": 3.1415})
    r = SHM(path)
    assert r.get_keywords() == {"yo": "lo", "toto": 17, "arthur": 3.1415}
    assert r.get_keywords(comments=True)["yo"] == ("lo", "a comment")
    r.set_keywords({"yo": 2.5, "roger": ("trois",)})
    assert w.get_keywords(True) == {"yo": (2.5, ""), "toto": (17, ""), "arthur": (3.1415, ""), "roger": ("trois", "")}
    w.update_keyword("roger", "12")
    w.update_keyword("yo", 13, "now an int")
    assert r.get_keywords(True)["roger"] == ("12", "") and r.get_keyword("yo", comment=True) == (13, "now an int")
    with pytest.raises(AssertionError):
        w.update_keyword("nobody", 1)
    w["EXPTIME"] = 0.001
    assert r["EXPTIME"] == 0.001 and r.get_expt() == 0.001
    r.reset_keywords({"only": 1})
    assert w.get_keywords() == {"only": 1}
    assert dict(w.keywords) == {"only": 1}


def test_get_data_with_check_waits_for_the_next_frame(stream_dir, shmim_cli):
    path = os.path.join(stream_dir, "chk")
    shm = SHM(path, np.zeros((8, 8), np.float32))
    writer = subprocess.Popen(
        [shmim_cli, "--dir", stream_dir, "write", "chk", "--rate", "50", "--count", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    before = shm.get_counter()
    frame = shm.get_data(check=True, timeout=10.0)
    assert shm.get_counter() > before and frame.shape == (8, 8)
    frames = shm.multi_recv_data(3)
    cube = shm.multi_recv_data(3, output_as_cube=True)
    assert len(frames) == 3 and cube.shape == (3, 8, 8)
    finish(writer)


def test_get_data_timeout_warns_and_returns_the_previous_frame(stream_dir, capsys):
    data = np.arange(4, dtype=np.int32)
    shm = SHM(os.path.join(stream_dir, "late"), data)
    got = shm.get_data(check=True, timeout=0.1)
    assert np.array_equal(got, data)
    assert "timed out and returned old data" in capsys.readouterr().out
    assert shm.get_data(check=True, timeout=0.1, return_none_on_timeout=True) is None


def test_get_data_copy_false_is_a_read_only_view(stream_dir):
    shm = SHM(os.path.join(stream_dir, "view"), np.zeros((3, 2), np.float64))
    v = shm.get_data(copy=False)
    shm.set_data(np.ones((3, 2)))
    assert np.all(v == 1.0) and not v.flags.writeable


def test_semaphore_checks(stream_dir):
    path = os.path.join(stream_dir, "sem")
    w = SHM(path, np.zeros(4, np.uint8))
    r = SHM(path)
    assert r.semID == 0 and r.IMAGE.getsemwaitindex(0) == 0
    assert r.check_sem_value() == 0 and not r.check_sem_trywait()
    w.set_data(np.ones(4, np.uint8))
    w.repost()
    assert r.check_sem_value() == 2
    assert r.check_sem_trywait() and r.check_sem_timedwait(1.0)
    assert not r.check_sem_timedwait(0.05)
    w.repost(atime=datetime.datetime(2024, 1, 1))
    assert r.IMAGE.semtimedwait(r.semID, 1.0) == 0 and r.IMAGE.semtrywait(r.semID) == -1
    w.repost()
    r.IMAGE.semflush(r.semID)
    assert r.IMAGE.semvalue(r.semID) == 0 and r.IMAGE.semvalue(99) == -1
    assert r.IMAGE.semwait(99) == 1
    threading.Timer(0.1, w.repost).start()
    assert r.non_block_wait_semaphore(sleep_time=0.01) == 0


def test_a_compat_shm_never_shares_a_native_readers_slot(stream_dir):
    w = shmim.Stream.create("mix", (4,), np.int64, semaphores=3, dir=stream_dir)
    r = w.reader()
    shm = SHM(os.path.join(stream_dir, "mix.im.shm"))
    assert (r.slot, shm.semID) == (0, 1)
    w.write_frame(np.full(4, 1))
    assert shm.check_sem_trywait(), "the SHM takes its own post"
    assert r.wait(CHILD_DEADLINE) == 1, "and leaves the reader's"
    r.close()
    # The SHM keeps its slot; one the reader released is another process's to take.
    assert shm.IMAGE.getsemwaitindex(0) == 1
    assert w.registered_readers() == [(1, os.getpid())]


def test_a_stream_re_created_under_an_open_shm_is_followed(stream_dir):
    path = os.path.join(stream_dir, "relink")
    SHM(path, np.zeros((4, 4), np.float32))
    r = SHM(path)
    old_inode = r.IMAGE.md.inode
    child = python_child(
        """
        import sys, numpy as np
        from shmim.compat import SHM
        SHM(sys.argv[1], np.full((4, 4), 7, np.float32))
        """,
        path,
    )
    finish(child)
    got = r.get_data()
    assert np.all(got == 7) and r.IMAGE.md.inode != old_inode
    assert r.semID == 0


@pytest.mark.parametrize(
    "new, error",
    [(np.zeros((4, 5), np.float32), AutoRelinkSizeError), (np.zeros((4, 4), np.int32), AutoRelinkTypeError)],
    ids=["shape", "dtype"],
)
def test_a_stream_re_created_with_another_geometry_is_an_autorelink_error(stream_dir, new, error):
    path = os.path.join(stream_dir, "relink")
    SHM(path, np.zeros((4, 4), np.float32))
    r = SHM(path)
    SHM(path, new)
    with pytest.raises(error):
        r.get_data()


def test_non_block_wait_until_recreation_returns_the_new_stream(stream_dir):
    path = os.path.join(stream_dir, "reborn")
    SHM(path, np.zeros((4, 4), np.float32))
    r = SHM(path)
    SHM(path, np.zeros((2, 2), np.float64))
    fresh = r.non_block_wait_until_recreation(sleep_time=0.01)
    assert fresh is not r and fresh.shape == (2, 2) and fresh.nptype == np.float64


def test_a_stuck_writer_does_not_make_get_data_raise(stream_dir, c_peer, capsys):
    path = os.path.join(stream_dir, "stuck")
    shm = SHM(path, np.arange(16, dtype=np.uint32))
    peer = subprocess.Popen([c_peer, "hold", "stuck"], env=dict(os.environ, MILK_SHM_DIR=stream_dir),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    expect_line(peer, "holding")
    got = shm.get_data()  # pyMilk returns the pixels; so does the compat layer, with a warning
    assert np.array_equal(got, np.arange(16))
    assert "writer stuck" in capsys.readouterr().err
    peer.stdin.close()
    assert peer.wait(timeout=60) == 0


def test_milk_shm_dir_unset_means_the_default_directory(monkeypatch):
    monkeypatch.delenv("MILK_SHM_DIR", raising=False)
    default = "/milk/shm" if os.path.isdir("/milk/shm") else "/tmp"
    name = f"shmim_compat_default_{os.getpid()}"
    shm = SHM(name, np.zeros(3, np.uint8))
    try:
        assert shm.FILEPATH == os.path.join(default, name + ".im.shm")
        assert os.path.exists(shm.FILEPATH)
        assert SHM(name + ".im.shm").shape == (3,)
    finally:
        shm.destroy()
    assert not os.path.exists(shm.FILEPATH)


def test_milk_shm_dir_is_read_at_each_construction(monkeypatch, stream_dir):
    monkeypatch.setenv("MILK_SHM_DIR", stream_dir)
    shm = SHM("here", np.zeros(3, np.uint8))
    assert shm.FILEPATH == os.path.join(stream_dir, "here.im.shm")
    assert check_SHM_name(os.path.join(stream_dir, "here.im.shm")) == "here"


def test_opening_a_missing_stream_is_file_not_found(stream_dir):
    with pytest.raises(FileNotFoundError):
        SHM(os.path.join(stream_dir, "absent"))


def test_context_manager_closes_and_destroy_removes(stream_dir):
    path = os.path.join(stream_dir, "ctx")
    with SHM(path, np.zeros(2, np.uint8)) as shm:
        assert shm.get_counter() == 1
    assert shm.IMAGE.stream.closed
    SHM(path).destroy()
    assert not os.path.exists(path + ".im.shm")


def test_unsupported_kinds_of_stream_are_refused(stream_dir):
    with pytest.raises(NotImplementedError):
        SHM(os.path.join(stream_dir, "gpu"), np.zeros(2), location=0)
    with pytest.raises(NotImplementedError):
        SHM(os.path.join(stream_dir, "local"), np.zeros(2), shared=False)


def test_a_get_data_waiting_while_the_stream_is_re_created_follows_it(stream_dir):
    path = os.path.join(stream_dir, "camera")
    SHM(path, np.zeros((4, 4), np.float32))
    r = SHM(path)
    child = python_child(
        """
        import sys, time, numpy as np
        from shmim.compat import SHM
        time.sleep(0.3)
        w = SHM(sys.argv[1], np.zeros((4, 4), np.float32))   # the camera restarts
        time.sleep(0.3)
        w.set_data(np.full((4, 4), 5, np.float32))           # and sends a frame
        """,
        path,
    )
    got = r.get_data(check=True, timeout=30.0)
    finish(child)
    assert np.all(got == 5)


def test_a_get_data_waiting_while_the_stream_is_deleted_waits_for_it_to_return(stream_dir):
    path = os.path.join(stream_dir, "camera")
    SHM(path, np.zeros(4, np.int64))
    r = SHM(path)
    child = python_child(
        """
        import os, sys, time, numpy as np
        from shmim.compat import SHM
        time.sleep(0.2)
        os.unlink(sys.argv[1] + ".im.shm")
        time.sleep(0.3)
        w = SHM(sys.argv[1], np.zeros(4, np.int64))
        time.sleep(0.3)
        w.set_data(np.arange(4, dtype=np.int64))
        """,
        path,
    )
    got = r.get_data(check=True, timeout=30.0)
    finish(child)
    assert got.tolist() == [0, 1, 2, 3]


def test_a_stream_deleted_during_a_wait_that_stays_away_is_a_timeout(stream_dir, capsys):
    path = os.path.join(stream_dir, "gone")
    SHM(path, np.ones(4, np.int64))
    r = SHM(path)
    threading.Timer(0.1, os.unlink, [path + ".im.shm"]).start()
    assert r.get_data(check=True, timeout=0.5).tolist() == [1, 1, 1, 1]
    assert "timed out" in capsys.readouterr().out
    # As pyMilk: the next call's relink check finds no file.
    with pytest.raises(FileNotFoundError):
        r.get_data()

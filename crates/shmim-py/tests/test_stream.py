"""The native API: creating, opening, reading, viewing and writing streams."""

from __future__ import annotations

import datetime
import gc
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import shmim
from conftest import CHILD_DEADLINE, expect_line, finish, python_child

ALL_DTYPES = [
    np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.uint64, np.int64,
    np.float16, np.float32, np.float64, np.complex64, np.complex128,
]


def sample(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 100, size=shape) + 0.5 * (np.dtype(dtype).kind in "fc")
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.integers(0, 100, size=shape)
    return x.astype(dtype)


def test_shape_is_c_order_the_reverse_of_the_files_size(stream_dir):
    s = shmim.Stream.create("cam", (3, 5), np.float32, dir=stream_dir)
    assert s.shape == (3, 5)
    assert s.metadata.size == (5, 3)
    assert s.metadata.shape == (3, 5)
    frame = np.arange(15, dtype=np.float32).reshape(3, 5)
    s.write_frame(frame)
    # In the file, size[0] (5) varies fastest: the C-order bytes of the numpy array.
    raw = np.fromfile(s.path, dtype=np.uint8)[384 : 384 + 60].view(np.float32)
    assert np.array_equal(raw, frame.ravel())


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=lambda t: np.dtype(t).name)
def test_every_datatype_round_trips_through_write_frame_and_read(stream_dir, dtype):
    s = shmim.Stream.create("t", (4, 3, 2), dtype, dir=stream_dir)
    data = sample((4, 3, 2), dtype)
    assert s.write_frame(data) == 1
    other = shmim.Stream.open("t", dir=stream_dir)
    assert other.dtype == np.dtype(dtype)
    got = other.read()
    assert got.dtype == np.dtype(dtype) and got.flags.c_contiguous
    assert np.array_equal(got, data)


def test_metadata_is_a_frozen_snapshot_of_the_header(stream_dir):
    s = shmim.Stream.create("md", (8, 16), np.uint16, keywords=5, semaphores=4, dir=stream_dir)
    md = s.metadata
    assert (md.name, md.naxis, md.nelement, md.dtype) == ("md", 2, 128, np.dtype(np.uint16))
    assert (md.semaphores, md.keywords, md.cnt0, md.write, md.shared) == (4, 5, 0, False, True)
    assert md.inode == os.stat(s.path).st_ino and md.creator_pid == os.getpid()
    s.write_frame(np.ones((8, 16), np.uint16))
    assert md.cnt0 == 0 and s.metadata.cnt0 == 1
    with pytest.raises(AttributeError):
        md.cnt0 = 5


def test_read_into_out_fills_and_returns_that_array(stream_dir):
    s = shmim.Stream.create("o", (64, 64), np.float32, dir=stream_dir)
    data = sample((64, 64), np.float32)
    s.write_frame(data)
    out = np.empty((64, 64), np.float32)
    assert s.read(out=out) is out
    assert np.array_equal(out, data)


@pytest.mark.parametrize(
    "out, error",
    [
        (np.empty((64, 64), np.float64), ValueError),
        (np.empty((64, 32), np.float32), ValueError),
        (np.empty((64, 128), np.float32)[:, ::2], ValueError),
        (np.empty((64, 64), np.float32, order="F"), ValueError),
        (np.broadcast_to(np.float32(0), (64, 64)), ValueError),
        ([0.0] * 4096, TypeError),
    ],
    ids=["dtype", "shape", "strided", "fortran", "read-only-broadcast", "list"],
)
def test_read_refuses_an_out_that_is_not_one_c_contiguous_frame(stream_dir, out, error):
    s = shmim.Stream.create("o", (64, 64), np.float32, dir=stream_dir)
    with pytest.raises(error):
        s.read(out=out)


def test_read_refuses_a_read_only_out(stream_dir):
    s = shmim.Stream.create("o", (4,), np.float32, dir=stream_dir)
    out = np.empty(4, np.float32)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        s.read(out=out)


def test_view_is_read_only_zero_copy_and_follows_the_live_pixels(stream_dir):
    s = shmim.Stream.create("v", (2, 3), np.int32, dir=stream_dir)
    v = s.view()
    assert not v.flags.writeable and not v.flags.owndata
    assert isinstance(v.base, shmim.PixelMemory) and v.base.nbytes == 24
    with pytest.raises(ValueError):
        v[0, 0] = 1
    s.write_frame(np.arange(6, dtype=np.int32).reshape(2, 3))
    assert v.tolist() == [[0, 1, 2], [3, 4, 5]]


def test_a_view_keeps_the_mapping_alive_after_the_stream_is_closed_and_collected(stream_dir):
    s = shmim.Stream.create("v", (1000,), np.float64, dir=stream_dir)
    s.write_frame(np.full(1000, 2.5))
    v = s.view()[10:20]
    s.close()
    del s
    gc.collect()
    os.unlink(os.path.join(stream_dir, "v.im.shm"))
    assert np.all(v == 2.5)


def test_write_frame_refuses_another_dtype_or_shape(stream_dir):
    s = shmim.Stream.create("w", (4, 4), np.float32, dir=stream_dir)
    with pytest.raises(ValueError, match="float32"):
        s.write_frame(np.zeros((4, 4), np.float64))
    with pytest.raises(ValueError, match="C order"):
        s.write_frame(np.zeros((4, 5), np.float32))
    assert s.cnt0 == 0 and not s.is_writing


def unaligned(shape, dtype):
    """A C-contiguous array of `dtype` whose data starts one byte past an aligned address."""
    n = int(np.prod(shape)) * np.dtype(dtype).itemsize
    a = np.frombuffer(bytearray(n + 1), dtype=dtype, offset=1).reshape(shape)
    assert a.flags.c_contiguous and not a.flags.aligned
    return a


def test_unaligned_c_contiguous_arrays_are_written_and_read_into(stream_dir):
    s = shmim.Stream.create("u", (4, 4), np.float32, dir=stream_dir)
    src = unaligned((4, 4), np.float32)
    src[...] = np.arange(16, dtype=np.float32).reshape(4, 4)
    assert s.write_frame(src) == 1
    out = unaligned((4, 4), np.float32)
    assert s.read(out=out) is out and np.array_equal(out, src)
    assert np.array_equal(s.reader().read(out=out), src)


def test_write_frame_takes_non_contiguous_arrays_and_array_likes(stream_dir):
    s = shmim.Stream.create("w", (3, 2), np.float32, dir=stream_dir)
    f = np.asfortranarray(np.arange(6, dtype=np.float32).reshape(3, 2))
    s.write_frame(f)
    assert np.array_equal(s.read(), f)
    s.write_frame([[1, 2], [3, 4], [5, 6]])
    assert s.read().tolist() == [[1, 2], [3, 4], [5, 6]]


def test_with_write_publishes_on_leaving_the_block(stream_dir):
    s = shmim.Stream.create("w", (4,), np.uint8, dir=stream_dir)
    r = shmim.Stream.open("w", dir=stream_dir).reader()
    w = s.write(atime=(1_700_000_000, 5), cnt1=7)
    with w as a:
        assert a.flags.writeable and a.shape == (4,)
        a[:] = [1, 2, 3, 4]
        assert s.is_writing and w.frame is None
    assert w.frame == 1 and s.cnt0 == 1 and not s.is_writing
    assert r.wait(5.0) == 1
    assert r.read().tolist() == [1, 2, 3, 4]
    md = s.metadata
    assert (md.cnt1, md.atime) == (7, 1_700_000_000 + 5e-9)
    assert md.write_time > 0


def test_an_exception_in_the_block_abandons_the_frame_until_the_next_write(stream_dir):
    s = shmim.Stream.create("w", (4,), np.uint8, dir=stream_dir)
    s.write_frame(np.array([9, 9, 9, 9], np.uint8))
    r = shmim.Stream.open("w", dir=stream_dir).reader()
    r.read_timeout = 0.05
    with pytest.raises(RuntimeError):
        with s.write() as a:
            a[:2] = 0
            raise RuntimeError("camera fault")
    # The half frame is never published: the flag stays set, nothing is posted.
    assert s.is_writing and s.cnt0 == 1
    with pytest.raises(shmim.WriterStuckError):
        r.read()
    with pytest.raises(TimeoutError):
        r.wait(0.1)
    # This Stream owns the flag: its next write publishes a whole frame and clears it.
    assert s.write_frame(np.array([1, 2, 3, 4], np.uint8)) == 2
    assert r.wait(5.0) == 2 and r.read().tolist() == [1, 2, 3, 4]


def test_a_write_entered_by_hand_and_collected_abandons_its_frame(stream_dir):
    s = shmim.Stream.create("hand", (4,), np.uint8, dir=stream_dir)
    w = s.write()
    w.__enter__()[:] = 1
    del w
    gc.collect()
    # Abandoned as by an exception: the half frame is never published, and the handle is free.
    other = shmim.Stream.open("hand", dir=stream_dir)
    assert other.is_writing and other.cnt0 == 0
    assert s.write_frame(np.full(4, 2, np.uint8)) == 1
    assert s.read().tolist() == [2] * 4 and not s.is_writing


def test_reading_inside_the_own_write_block_is_refused(stream_dir):
    s = shmim.Stream.create("w", (4,), np.uint8, dir=stream_dir)
    with s.write():
        with pytest.raises(shmim.WriterBusyError):
            s.read()
        with pytest.raises(shmim.WriterBusyError):
            s.write_frame(np.zeros(4, np.uint8))
        with pytest.raises(shmim.WriterBusyError):
            with s.write():
                pass
    assert s.cnt0 == 1


def test_a_second_writer_gets_writer_busy(stream_dir):
    a = shmim.Stream.create("w", (4,), np.uint8, dir=stream_dir)
    b = shmim.Stream.open("w", dir=stream_dir)
    with a.write():
        with pytest.raises(shmim.WriterBusyError):
            b.write_frame(np.zeros(4, np.uint8))
    assert b.write_frame(np.zeros(4, np.uint8)) == 2


@pytest.mark.parametrize(
    "atime, seconds",
    [
        (1_600_000_000.25, 1_600_000_000.25),
        ((1_600_000_000, 250_000_000), 1_600_000_000.25),
        (datetime.datetime(2020, 9, 13, 12, 26, 40, 250000, tzinfo=datetime.timezone.utc), 1_600_000_000.25),
    ],
    ids=["float", "pair", "datetime"],
)
def test_repost_publishes_the_same_pixels_again_with_an_atime(stream_dir, atime, seconds):
    s = shmim.Stream.create("p", (2,), np.float64, dir=stream_dir)
    s.write_frame(np.array([1.0, 2.0]))
    r = s.reader()
    assert s.repost(atime=atime) == 2
    assert r.wait(5.0) == 2
    assert s.metadata.atime == pytest.approx(seconds, abs=1e-6)
    assert s.read().tolist() == [1.0, 2.0]


def test_create_refuses_an_existing_stream_unless_replace(stream_dir):
    shmim.Stream.create("c", (2,), np.uint8, dir=stream_dir)
    with pytest.raises(FileExistsError, match="replace=True"):
        shmim.Stream.create("c", (2,), np.uint8, dir=stream_dir)
    s = shmim.Stream.create("c", (3,), np.int16, dir=stream_dir, replace=True)
    assert (s.shape, s.dtype) == ((3,), np.dtype(np.int16))


def test_create_without_replace_is_decided_atomically_among_racing_processes(stream_dir):
    racers = [
        python_child(
            """
            import sys, numpy as np, shmim
            print("ready", flush=True)
            sys.stdin.readline()
            try:
                shmim.Stream.create("race", (4,), np.uint8, dir=sys.argv[1])
                print("created", flush=True)
            except FileExistsError:
                print("exists", flush=True)
            """,
            stream_dir,
        )
        for _ in range(4)
    ]
    for r in racers:
        expect_line(r, "ready")
    for r in racers:
        r.stdin.write("go\n")
        r.stdin.flush()
    outcomes = sorted(finish(r).strip() for r in racers)
    # A check before an ordinary rename let several "succeed", each replacing the last.
    assert outcomes == ["created", "exists", "exists", "exists"]


def test_open_by_path(stream_dir):
    shmim.Stream.create("byname", (2,), np.uint8, dir=stream_dir)
    s = shmim.Stream.open(os.path.join(stream_dir, "byname.im.shm"))
    assert s.name == "byname"
    assert isinstance(s.path, pathlib.Path) and s.path == pathlib.Path(stream_dir, "byname.im.shm")


def test_a_stream_opened_by_a_relative_path_stays_itself_after_a_chdir(stream_dir, monkeypatch):
    w = shmim.Stream.create("rel", (4,), np.uint8, dir=stream_dir)
    monkeypatch.chdir(os.path.dirname(stream_dir))
    by_path = shmim.Stream.open(os.path.join(os.path.basename(stream_dir), "rel.im.shm"))
    by_dir = shmim.Stream.open("rel", dir=os.path.basename(stream_dir))
    readers = [by_path.reader(), by_dir.reader()]
    monkeypatch.chdir("/")
    assert by_path.path == by_dir.path == pathlib.Path(stream_dir, "rel.im.shm")
    assert not by_path.inode_changed() and not by_dir.inode_changed()
    w.write_frame(np.ones(4, np.uint8))
    assert [r.wait(CHILD_DEADLINE) for r in readers] == [1, 1]


def test_the_default_directory_is_fixed_at_first_use_unlike_the_compat_layers(tmp_path):
    # Documented: the native default directory is resolved once per process (as by the C
    # library); the compat layer reads MILK_SHM_DIR at each construction, as pyMilk does.
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    child = python_child(
        """
        import os, sys, numpy as np, shmim
        from shmim.compat import SHM
        os.environ["MILK_SHM_DIR"] = sys.argv[1]
        print("dir", shmim.Stream.create("a", (2,), np.uint8).path.parent)
        os.environ["MILK_SHM_DIR"] = sys.argv[2]
        print("dir", shmim.Stream.create("b", (2,), np.uint8).path.parent)
        print("dir", os.path.dirname(SHM("c", np.zeros(2, np.uint8)).FILEPATH))
        """, str(first), str(second))
    out, err = child.communicate(timeout=CHILD_DEADLINE)
    assert child.returncode == 0, err
    dirs = [line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("dir ")]
    assert dirs == [str(first), str(first), str(second)]


def test_a_nul_in_a_keyword_name_is_reported_as_such(stream_dir):
    s = shmim.Stream.create("nul", (2,), np.uint8, keywords=2, dir=stream_dir)
    with pytest.raises(ValueError, match="NUL byte") as e:
        s.keywords["k\0"] = 1
    assert "too long" not in str(e.value)


@pytest.mark.parametrize(
    "shape, dtype, error",
    [
        ((), np.float32, ValueError),
        ((2, 2, 2, 2), np.float32, ValueError),
        ((0, 4), np.float32, ValueError),
        ((4,), np.bool_, ValueError),
        ((4,), ">f4", ValueError),
        ((4,), "U3", ValueError),
        ((-1,), np.float32, OverflowError),
    ],
    ids=["no-axis", "4-axes", "zero-axis", "bool", "big-endian", "strings", "negative"],
)
def test_create_refuses_what_cannot_be_a_stream(stream_dir, shape, dtype, error):
    with pytest.raises(error):
        shmim.Stream.create("bad", shape, dtype, dir=stream_dir)
    assert os.listdir(stream_dir) == []


def test_a_bad_name_is_a_value_error(stream_dir):
    with pytest.raises(ValueError, match="invalid stream name"):
        shmim.Stream.create("../escape", (2,), np.uint8, dir=stream_dir)


def test_opening_a_missing_stream_is_file_not_found(stream_dir):
    with pytest.raises(FileNotFoundError, match="no stream"):
        shmim.Stream.open("nothing", dir=stream_dir)


def test_opening_a_file_that_is_no_stream_is_invalid_stream_error(stream_dir):
    with open(os.path.join(stream_dir, "junk.im.shm"), "wb") as f:
        f.write(b"\x07" * 5000)
    with pytest.raises(shmim.InvalidStreamError) as e:
        shmim.Stream.open("junk", dir=stream_dir)
    assert isinstance(e.value, shmim.StreamError)


def test_opening_a_stream_without_access_is_permission_error(stream_dir):
    s = shmim.Stream.create("private", (2,), np.uint8, dir=stream_dir)
    os.chmod(s.path, 0o600)
    os.chmod(stream_dir, 0o755)
    # Root opens anything: check from an unprivileged child when we are root.
    script = (
        "import os, shmim, sys\n"
        "if os.getuid() == 0: os.setgid(65534); os.setuid(65534)\n"
        "try:\n shmim.Stream.open('private', dir=sys.argv[1])\n"
        "except PermissionError as e: print('PermissionError', e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, stream_dir], capture_output=True, text=True, timeout=60
    )
    assert out.stdout.startswith("PermissionError permission denied"), out


def test_closed_streams_refuse_operations(stream_dir):
    s = shmim.Stream.create("x", (2,), np.uint8, dir=stream_dir)
    with s:
        pass
    assert s.closed
    for op in (s.read, s.view, lambda: s.cnt0, lambda: s.write_frame([1, 2])):
        with pytest.raises(ValueError, match="closed"):
            op()


def test_destroy_removes_the_file(stream_dir):
    s = shmim.Stream.create("gone", (2,), np.uint8, dir=stream_dir)
    s.destroy()
    assert os.listdir(stream_dir) == [] and s.closed


def test_the_rust_message_travels_with_the_exception(stream_dir):
    s = shmim.Stream.create("m", (4,), np.float32, dir=stream_dir)
    with pytest.raises(IndexError, match=r"semaphore index 12 out of range \(0\.\.10\)"):
        s.reader(slot=12)


def test_a_view_of_the_stream_can_be_written_back_as_a_frame(stream_dir):
    s = shmim.Stream.create("self", (2, 3), np.int32, dir=stream_dir)
    s.write_frame(np.arange(6, dtype=np.int32).reshape(2, 3))
    assert s.write_frame(s.view()) == 2
    assert s.write_frame(s.view()[::-1]) == 3
    assert s.read().tolist() == [[3, 4, 5], [0, 1, 2]]


def test_reading_into_the_streams_own_pixels_is_refused(stream_dir):
    s = shmim.Stream.create("self", (4,), np.int32, dir=stream_dir)
    with s.write() as a:
        a[:] = 1
    r = s.reader()
    with pytest.raises(ValueError, match="own pixels"):
        r.read(out=a)
    with pytest.raises(ValueError, match="own pixels"):
        s.read(out=a[:])
    assert s.read().tolist() == [1, 1, 1, 1]

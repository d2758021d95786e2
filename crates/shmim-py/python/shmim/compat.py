"""pyMilk's ``SHM`` class on shmim: change one import, keep the script.

``from pyMilk.interfacing.isio_shmlib import SHM`` becomes ``from shmim.compat import SHM``. The
constructor, methods and attributes (``IMAGE`` included) behave as pyMilk's (at its commit
94b2fd7), with these differences, all on the safe side:

* reads are consistent copies (pyMilk copied pixels a writer might be changing); facing a writer
  stuck mid-frame, ``get_data`` prints a warning once and returns the pixels as they are (pyMilk
  returned them silently); while the same frame stays stuck, later calls return at once, without
  the warning and without waiting;
* ``set_data`` publishes in the protocol's order (pixels, times, ``cnt0``, write flag, then the
  semaphores; the legacy module posted first and never set the times). It takes over the write
  flag of a writer that died mid-frame (with a warning), as pyMilk's unconditional write did;
  a flag held by a live writer, or set by a legacy C writer (which names no process), is
  ``shmim.WriterBusyError`` instead of a second writer;
* ``get_data(copy=False)`` and ``np.array(shm.IMAGE, copy=False)`` give read-only views of the
  live pixels (pyMilk's were writable: write with ``set_data``);
* waits are cut into 50 ms slices, so Ctrl-C interrupts them, and ``timeout`` is in real seconds;
* every ``SHM`` of a process shares that process's semaphore slot, as pyMilk's do; when the
  stream has no slot left (``semID == -1``) or no semaphore at all, ``get_data(check=True)``
  prints the timeout warning and returns the current data (pyMilk raised or flushed every
  reader's semaphore), and the slot is looked for again at the next call;
* ``MILK_SHM_DIR`` unset means the default stream directory (``/milk/shm``, else ``/tmp``), not a
  ``KeyError``; a full path may name a stream in any directory;
* ``save_as_fits`` writes through astropy, as pyMilk's does (``ImportError`` without it; the
  ``shmim save`` command writes FITS without Python);
* ``IMAGE.streamproctrace0`` gives its times in seconds, ``IMAGE.set_kws``/``set_kws_list`` raise
  ``shmim.KeywordsFullError`` (pyMilk: ``RuntimeError``) when the keywords do not fit;
* process-local (``shared=False``) and GPU (``location >= 0``) streams are refused
  (``NotImplementedError``): this build has neither.
"""

from __future__ import annotations

import datetime
import os
import sys
import time
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import numpy as np

from . import _shapes
from ._legacy_image import Image_kw, KWValue, ProcTrace, _LegacyImage
from ._native import (
    WAIT_SLICE_SECONDS,
    RemovedError,
    ReplacedError,
    Stream,
    TornError,
    WriterDiedError,
    WriterStuckError,
)

__all__ = [
    "SHM",
    "AutoRelinkError",
    "AutoRelinkSizeError",
    "AutoRelinkTypeError",
    "Image_kw",
    "ProcTrace",
    "Which3DState",
    "check_SHM_name",
]


class AutoRelinkError(Exception):
    """The stream was re-created and cannot be followed."""


class AutoRelinkTypeError(AutoRelinkError):
    """The re-created stream has another datatype."""


class AutoRelinkSizeError(AutoRelinkError):
    """The re-created stream has another shape."""


class Which3DState:
    """triDim values: where the stack axis of a cube is, Python side → C side."""

    LAST2LAST = _shapes.LAST2LAST
    LAST2FRONT = _shapes.LAST2FRONT
    FRONT2FRONT = _shapes.FRONT2FRONT
    FRONT2LAST = _shapes.FRONT2LAST


def shm_dir() -> str:
    """The stream directory, resolved now: ``$MILK_SHM_DIR`` if it is an existing directory,
    else ``/milk/shm`` if it exists, else ``/tmp`` (the C library's rule)."""
    env = os.environ.get("MILK_SHM_DIR")
    if env and os.path.isdir(env):
        return env
    return "/milk/shm" if os.path.isdir("/milk/shm") else "/tmp"


def _split_name(fname: str) -> Tuple[str, str]:
    """``(directory, stream name)`` for a bare name or a path to a ``.im.shm`` file."""
    directory, base = os.path.split(fname)
    if base.endswith(".im.shm"):
        base = base[: -len(".im.shm")]
    if not base:
        raise ValueError(f"no stream name in {fname!r}")
    return (directory or shm_dir()), base


def check_SHM_name(fname: str) -> str:
    """The stream name in ``fname`` (a bare name, or a path to ``NAME.im.shm``)."""
    return _split_name(fname)[1]


#: The keyword sets ``get_crop`` reads, and whether their second and fourth are lengths.
_CROP_KEYWORDS = (
    (("PRD-MIN1", "PRD-RNG1", "PRD-MIN2", "PRD-RNG2"), True),
    (("CROP_OR1", "CROP_EN1", "CROP_OR2", "CROP_EN2"), False),
    (("x0", "x1", "y0", "y1"), True),
)


class SHM:
    """A stream, the pyMilk way: Python-side shapes through a symcode and a triDim rule.

    ``SHM(name)`` opens an existing stream (``FileNotFoundError`` if there is none);
    ``SHM(name, data)`` (an array, or ``(shape, dtype)``) creates it, replacing an existing one,
    and publishes ``data`` as its first frame.
    """

    def __init__(
        self,
        fname: str,
        data: Union[None, np.ndarray, Tuple[Tuple[int, ...], Any]] = None,
        nbkw: int = 50,
        shared: Union[bool, int] = True,
        location: int = -1,
        verbose: bool = False,
        packed: bool = False,
        autoSqueeze: bool = True,
        symcode: int = 4,
        triDim: int = Which3DState.LAST2LAST,
    ) -> None:
        if not shared:
            raise NotImplementedError("shmim.compat: process-local (shared=False) images are not supported")
        if location >= 0:
            raise NotImplementedError("shmim.compat: GPU streams (location >= 0) are not supported")
        directory, self.FNAME = _split_name(fname)
        self._dir = directory
        self.FILEPATH = os.path.join(directory, self.FNAME + ".im.shm")
        self.semID: Optional[int] = None
        # cnt0 of the frame a writer was found stuck on (warned once; see _copy_c).
        self._stuck_at: Optional[int] = None
        self.location = location
        self.symcode = symcode
        self.triDimState = triDim
        if data is None:
            stream = Stream.open(self.FNAME, dir=directory)
            self._native = stream
            self.IMAGE = _LegacyImage(stream)
            self._checkGrabSemaphore()
            self._init_internals_read(autoSqueeze)
        else:
            array = data if isinstance(data, np.ndarray) else np.zeros(data[0], dtype=data[1])
            data_c = self._init_internals_creation(array)
            exists = os.path.exists(self.FILEPATH)
            print(f"{self.FNAME}.im.shm will be {'overwritten' if exists else 'created'}")
            stream = Stream.create(
                self.FNAME,
                tuple(reversed(data_c.shape)),
                data_c.dtype,
                keywords=nbkw,
                dir=directory,
                replace=True,
            )
            self._native = stream
            self.IMAGE = _LegacyImage(stream)
            stream.write_frame(data_c.T, cnt1=1)

    @property
    def _stream(self) -> Stream:
        return self._native

    # -- shapes ---------------------------------------------------------------------------

    def _init_internals_read(self, autoSqueeze: bool) -> None:
        self.nptype = self._stream.dtype
        self.shape_c: Tuple[int, ...] = tuple(self._stream.metadata_now().size)
        self.readSlice, self.writeSlice = _shapes.squeeze_slices(self.shape_c, autoSqueeze)
        probe = np.empty(self.shape_c, dtype=np.uint8)[self.readSlice]
        self._layout(probe.ndim)
        self.shape: Tuple[int, ...] = self._decode_view(probe).shape

    def _init_internals_creation(self, data: np.ndarray) -> np.ndarray:
        self.nptype = data.dtype
        self.shape = data.shape
        if 1 in self.shape:
            print("Warning: ignoring autoSqueeze parameter when creating SHM. Remove the singleton dimensions yourself.")
        self.readSlice, self.writeSlice = Ellipsis, Ellipsis
        if not 1 <= data.ndim <= 3:
            raise ValueError("number of dimensions 1 <= d <= 3")
        self._layout(data.ndim)
        data_c = self._encode_view(data)
        self.shape_c = data_c.shape
        return data_c

    def _layout(self, ndim: int) -> None:
        """The Python-side ↔ C-side views for arrays of ``ndim`` axes (after squeezing)."""
        self.nDim = ndim
        self._encode_view = _shapes.encoder(ndim, self.symcode, self.triDimState)
        self._decode_view = _shapes.decoder(ndim, self.symcode, self.triDimState)

    def _decode(self, data_c: np.ndarray) -> np.ndarray:
        if self.readSlice is not Ellipsis:
            data_c = data_c[self.readSlice]
        return self._decode_view(data_c)

    # -- lifetime -------------------------------------------------------------------------

    def __enter__(self) -> SHM:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Closes the handle (the stream stays)."""
        self.IMAGE.close()

    def destroy(self) -> None:
        """Removes the stream's file and closes the handle."""
        self.IMAGE.destroy()

    def rename_img(self, newname: str) -> None:
        raise NotImplementedError()

    # -- relink ---------------------------------------------------------------------------

    def _attempt_autorelink_if_needed(self) -> None:
        if not self._native.inode_changed():
            return
        stream = Stream.open(self.FNAME, dir=self._dir)  # FileNotFoundError if it is gone
        self.IMAGE._attach(stream)
        self._native = stream
        self.semID = None
        self._stuck_at = None
        self._checkGrabSemaphore()
        size = tuple(stream.metadata_now().size)
        if size != tuple(self.shape_c):
            raise AutoRelinkSizeError(
                f"shmim.compat @ SHM {self.FNAME}: Error during autorelink -- size mismatch {self.shape_c} vs. {size}"
            )
        if stream.dtype != self.nptype:
            raise AutoRelinkTypeError(
                f"shmim.compat @ SHM {self.FNAME}: Error during autorelink -- type mismatch {stream.dtype} vs. {self.nptype}"
            )

    def _checkGrabSemaphore(self) -> int:
        """This process's semaphore slot (claimed if it has none); -1 if the stream has none
        left, looked for again at the next call."""
        if self.semID is None or self.semID < 0:
            self.semID = self.IMAGE.getsemwaitindex(0)
        return self.semID

    # -- data -----------------------------------------------------------------------------

    def _copy_c(self) -> np.ndarray:
        """The frame in the C-side shape: a consistent copy, or (writer stuck or dead mid-frame)
        the pixels as they are. The first time a frame is found stuck a warning is printed and
        the read waits ``read_timeout`` (0.1 s) for the writer; while that frame stays stuck
        (same ``cnt0``) later calls make one attempt and return at once, so a loop polling a
        stream whose writer hung keeps its pace."""
        stuck_before = self._stuck_at is not None and self._stuck_at == self._stream.cnt0
        try:
            data = self._native.read(timeout=0.0 if stuck_before else None).T
            self._stuck_at = None
            return data
        except (WriterStuckError, WriterDiedError, TornError) as e:
            if not isinstance(e, TornError):
                self._stuck_at = self._stream.cnt0
            if not stuck_before:
                print(f"Warning SHM {self.FNAME} - {e}; returning the pixels as they are.", file=sys.stderr)
            return np.array(self._stream.view()).T

    def get_data(
        self,
        check: bool = False,
        timeout: Optional[float] = 5.0,
        copy: bool = True,
        checkSemAndFlush: bool = True,
        autorelink_if_need: bool = True,
        return_none_on_timeout: bool = False,
    ) -> Optional[np.ndarray]:
        """The current frame, Python-side shaped. With ``check``, first waits for a new frame
        (``timeout`` seconds; ``None`` or <= 0 waits for ever); on a timeout prints a warning and
        returns the previous frame (``None`` with ``return_none_on_timeout``). A stream with no
        semaphore slot left for this process counts as a timeout (it never raises)."""
        if autorelink_if_need:
            self._attempt_autorelink_if_needed()
        if check:
            sem = self._checkGrabSemaphore()
            if sem >= 0 and checkSemAndFlush:
                self.IMAGE.semflush(sem)
            forever = timeout is None or timeout <= 0 or timeout == float("inf")
            if sem < 0 or not self._wait_frame(None if forever else timeout):
                print(f"Warning SHM {self.FNAME} - isio_shmlib.SHM.get_data has timed out and returned old data.")
                if sem < 0:
                    print(f"Warning SHM {self.FNAME} - no semaphore slot of the stream is free for this process.")
                if return_none_on_timeout:
                    return None
        data_c = self._copy_c() if copy else self._stream.view().T
        return self._decode(data_c)

    def _wait_frame(self, timeout: Optional[float]) -> bool:
        """Waits for a post of this process's semaphore (at most ``timeout`` s, None: no limit);
        whether one came. A stream re-created meanwhile is relinked and waited on for the rest of
        the time; one deleted is waited for until it comes back."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            sem = self._checkGrabSemaphore()
            if sem < 0:
                return False
            try:
                return self._stream._sem_wait(sem, left)
            except ReplacedError:
                pass
            except RemovedError:
                while not os.path.exists(self.FILEPATH):
                    if deadline is not None and time.monotonic() >= deadline:
                        return False
                    time.sleep(WAIT_SLICE_SECONDS)
            self._attempt_autorelink_if_needed()

    def set_data(self, data: np.ndarray, check_dt: bool = False, autorelink_if_need: bool = False) -> None:
        """Publishes ``data`` (Python-side shaped) as the next frame; ``check_dt`` casts it to
        the stream's dtype first (otherwise another dtype is a ``ValueError``)."""
        if autorelink_if_need:
            self._attempt_autorelink_if_needed()
        data = np.asarray(data)
        if check_dt:
            data = data.astype(self.nptype)
        if self.nDim == 0:
            data = np.array(data)
        if data.ndim != self.nDim:
            raise ValueError(f"incompatible number of axes: {data.ndim}, the stream's are {self.shape}")
        self.IMAGE.write(self._encode_view(data)[self.writeSlice])

    def repost(self, atime: Optional[datetime.datetime] = None) -> None:
        """Publishes the current pixels again (new times, ``cnt0`` + 1, semaphores)."""
        if atime is None:
            self.IMAGE.update()
        else:
            self.IMAGE.update_atime(atime)

    def multi_recv_data(
        self,
        n: int,
        output_as_cube: bool = False,
        monitorCount: bool = False,
        timeout: float = 5.0,
    ) -> Union[List[np.ndarray], np.ndarray]:
        """The next ``n`` frames, as a list or stacked in a cube."""
        output: Any = np.zeros((n, *self.shape), dtype=self.nptype) if output_as_cube else [None] * n
        counts = np.zeros((2, n), dtype=np.uint64) if monitorCount else None
        sem = self._checkGrabSemaphore()
        if sem >= 0:  # never -1: that would flush every reader's semaphore
            self.IMAGE.semflush(sem)
        for k in range(n):
            if counts is not None:
                counts[0, k] = self._stream.cnt0
            output[k] = self.get_data(check=True, checkSemAndFlush=False, timeout=timeout)
            if counts is not None:
                counts[1, k] = self._stream.cnt0
        if counts is not None:
            steps = counts[:, 1:].astype(np.int64) - counts[:, :-1].astype(np.int64)
            lag = counts[1].astype(np.int64) - counts[0].astype(np.int64)
            p1, p2 = np.sum(steps < 1, axis=1), np.sum(steps > 1, axis=1)
            print("Irregularities:")
            print(f"{p1[0]} < 1, {p1[1]} > 1 deltas in pre.")
            print(f"{p2[0]} < 1, {p2[1]} > 1 deltas in post.")
            print(f"{np.sum(lag < 1)} < 1, {np.sum(lag > 1)} > 1 pre/post diff.")
        return output

    # -- counters and semaphores ----------------------------------------------------------

    def get_counter(self) -> int:
        """The frame counter (``cnt0``)."""
        return self._stream.cnt0

    def check_sem_trywait(self) -> bool:
        """Takes a pending post of this reader's semaphore: whether there was one."""
        return self.IMAGE.semtrywait(self._checkGrabSemaphore()) == 0

    def check_sem_timedwait(self, timeout: float = 1.0) -> bool:
        """Waits at most ``timeout`` seconds for a post: whether one came."""
        return self.IMAGE.semtimedwait(self._checkGrabSemaphore(), timeout) == 0

    def check_sem_value(self) -> int:
        """The value of this reader's semaphore (-1 if there is none)."""
        return self.IMAGE.semvalue(self._checkGrabSemaphore())

    def non_block_wait_semaphore(self, sleep_time: float = 0.1) -> int:
        """Polls this reader's semaphore every ``sleep_time`` s until it is posted, following a
        re-created stream of the same shape and type (``AutoRelinkError`` otherwise)."""
        self._attempt_autorelink_if_needed()
        sem = self._checkGrabSemaphore()
        if sem >= 0:
            self.IMAGE.semflush(sem)
        while True:
            time.sleep(sleep_time)
            self._attempt_autorelink_if_needed()
            if self.IMAGE.semtrywait(self._checkGrabSemaphore()) == 0:
                return 0

    def non_block_wait_until_recreation(self, sleep_time: float = 0.1) -> SHM:
        """Like :meth:`non_block_wait_semaphore`, but a stream re-created with another shape or
        type is opened afresh and returned."""
        try:
            self.non_block_wait_semaphore(sleep_time=sleep_time)
            return self
        except AutoRelinkError:
            return SHM(self.FNAME if self._dir == shm_dir() else self.FILEPATH)

    # -- keywords -------------------------------------------------------------------------

    @property
    def keywords(self):
        """The keywords as a live mapping (``shmim.Keywords``)."""
        return self._stream.keywords

    @staticmethod
    def _value_comment(v: Any) -> Tuple[KWValue, str]:
        if not isinstance(v, tuple):
            return v, ""
        if len(v) == 1:
            return v[0], ""
        return v[0], v[1]

    def get_keywords(self, comments: bool = False, n_tries: int = 4) -> Dict[str, Any]:
        """``{name: value}``, or ``{name: (value, comment)}`` with ``comments``. A keyword that
        kept changing during the read (a writer updating it) is read again, ``n_tries`` times."""
        for _ in range(n_tries):
            try:
                self._attempt_autorelink_if_needed()
                return self._stream.keywords.to_dict(comments=comments)
            except TornError:
                time.sleep(0.002)
        self._attempt_autorelink_if_needed()
        return self._stream.keywords.to_dict(comments=comments)

    def get_keyword(self, name: str, comment: bool = False) -> Any:
        """The value of keyword ``name`` (with its comment: ``(value, comment)``)."""
        kw = self._stream.keywords
        return (kw[name], kw.comment(name)) if comment else kw[name]

    def set_keywords(self, kw_dict: Mapping[str, Any]) -> None:
        """Sets each keyword (value, ``(value,)`` or ``(value, comment)``; the comment defaults to
        ''), keeping the others."""
        kw = self._stream.keywords
        for name, v in kw_dict.items():
            kw.set(name, *self._value_comment(v))

    def reset_keywords(self, kw_dict: Mapping[str, Any]) -> None:
        """Replaces every keyword with those of ``kw_dict``."""
        self._stream.keywords.clear()
        self.set_keywords(kw_dict)

    def update_keyword(self, name: str, value: KWValue, comment: Optional[str] = None) -> None:
        """Sets an existing keyword (``AssertionError`` if there is none); ``comment=None`` keeps
        its comment."""
        kw = self._stream.keywords
        if name not in kw:
            raise AssertionError("Updating a keyword that does not exist yet.")
        kw.set(name, value, kw.comment(name) if comment is None else comment)

    def __getitem__(self, name: str) -> KWValue:
        return self._stream.keywords[name]

    def __setitem__(self, name: str, value: Any) -> None:
        self.set_keywords({name: value})

    # -- misc -----------------------------------------------------------------------------

    def print_meta_data(self) -> None:
        print(self.IMAGE.md)

    def read_meta_data(self, verbose: bool = True) -> None:
        if verbose:
            self.print_meta_data()

    def get_expt(self) -> float:
        """Exposure time (s) from ``EXPTIME`` (or ``tint``)."""
        kws = self.get_keywords()
        return kws["EXPTIME"] if "EXPTIME" in kws else kws.get("tint", 0.1234)

    def get_fps(self) -> float:
        """Frame rate (Hz) from ``FRATE`` (or ``fps``)."""
        kws = self.get_keywords()
        return kws["FRATE"] if "FRATE" in kws else kws.get("fps", 0.0)

    def get_ndr(self) -> int:
        """Number of non-destructive reads from ``DET-NSMP`` (or ``NDR``)."""
        kws = self.get_keywords()
        return kws["DET-NSMP"] if "DET-NSMP" in kws else kws.get("NDR", 1)

    def get_crop(self) -> Tuple[int, int, int, int]:
        """The crop of the detector this image is, ``(x0, x1, y0, y1)`` with inclusive ends, from
        the keywords: ``PRD-MIN1``/``PRD-RNG1``/``PRD-MIN2``/``PRD-RNG2`` (start and length),
        else ``CROP_OR1``/``CROP_EN1``/``CROP_OR2``/``CROP_EN2`` (start and end), else
        ``x0``/``x1``/``y0``/``y1`` (start and length); without any, the whole image
        ``(0, 0, shape[0], shape[1])`` as pyMilk gives it."""
        kws = self.get_keywords()
        for names, lengths in _CROP_KEYWORDS:
            if names[0] in kws:
                x0, x1, y0, y1 = (int(kws[name]) for name in names)
                if lengths:
                    x1, y1 = x0 + x1 - 1, y0 + y1 - 1
                return x0, x1, y0, y1
        if len(self.shape) < 2:
            raise ValueError(f"SHM {self.FNAME} is not an image (shape {self.shape}): no crop")
        return 0, 0, self.shape[0], self.shape[1]

    def save_as_fits(self, fitsname: str, **kwargs: Any) -> int:
        """Writes the current frame (``get_data(**kwargs)``) to the FITS file ``fitsname``
        (replacing it) as pyMilk does: through astropy, the image turned back to the C side by
        this SHM's symcode and triDim. Returns 0."""
        try:
            from astropy.io import fits  # type: ignore[import-untyped, import-not-found, unused-ignore]
        except ImportError as e:
            raise ImportError(
                "SHM.save_as_fits writes FITS with astropy, as pyMilk does: pip install astropy "
                "(or save without Python: shmim save NAME FILE.fits)"
            ) from e
        data = self.get_data(**kwargs)
        if data is None:
            raise TimeoutError(f"SHM {self.FNAME}: no frame came within the timeout; nothing saved")
        fits.PrimaryHDU(np.asarray(self._encode_view(data))).writeto(fitsname, overwrite=True)
        return 0

    def __repr__(self) -> str:
        return f"<shmim.compat.SHM {self.FNAME!r} shape={self.shape} shape_c={self.shape_c} dtype={self.nptype}>"

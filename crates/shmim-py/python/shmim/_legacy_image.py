"""``SHM.IMAGE`` of :mod:`shmim.compat`: the calls pyMilk code makes on the legacy pybind
module's ``Image`` (``md`` fields under their C names, semaphore calls by index, keyword entries
as ``Image_kw``), on a native :class:`shmim.Stream`."""

from __future__ import annotations

import datetime
import sys
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union

import numpy as np

from ._native import ReplacedError, RemovedError, Stream, WriterBusyError

KWValue = Union[int, float, str]

#: The C library's return codes.
_OK, _FAILED, _BAD_INDEX = 0, -1, 1


def _legacy_time(seconds: float) -> datetime.datetime:
    # The legacy module converted timespecs through the system clock: a naive local datetime.
    return datetime.datetime.fromtimestamp(seconds)


class Image_kw:
    """A keyword entry, as the legacy module's ``Image_kw``: ``Image_kw(name, value, comment="")``
    with ``value`` an ``int`` (type ``'L'``), ``float`` (``'D'``) or ``str`` (``'S'``); ``name``,
    ``type``, ``value`` and ``comment`` attributes."""

    __slots__ = ("name", "type", "value", "comment")

    def __init__(self, name: str = "", value: Optional[KWValue] = None, comment: str = "") -> None:
        if isinstance(value, bool) or isinstance(value, (int, np.integer)):
            kind, value = "L", int(value)
        elif isinstance(value, (float, np.floating)):
            kind, value = "D", float(value)
        elif isinstance(value, str):
            kind = "S"
        elif value is None:
            kind = "N"
        else:
            raise TypeError(f"keyword values are int, float or str, not {type(value).__name__}")
        self.name, self.type, self.value, self.comment = name, kind, value, comment

    def __repr__(self) -> str:
        return f"Image_kw({self.name!r}, {self.value!r}, {self.comment!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Image_kw):
            return NotImplemented
        return (self.name, self.type, self.value, self.comment) == (
            other.name, other.type, other.value, other.comment)

    __hash__ = None  # type: ignore[assignment]


class ProcTrace:
    """``IMAGE.streamproctrace0``: proc-trace entry 0 under the legacy module's names (times in
    seconds: the legacy module had no conversion for them)."""

    __slots__ = ("triggermode", "pid_write", "trigger_inode", "ts_procstart", "ts_streamupdate",
                 "trigger_semindex", "trigger_status", "cnt0")

    def __init__(self, entry: Tuple[int, int, int, float, float, int, int, int]) -> None:
        (self.triggermode, self.pid_write, self.trigger_inode, self.ts_procstart,
         self.ts_streamupdate, self.trigger_semindex, self.trigger_status, self.cnt0) = entry

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__)
        return f"ProcTrace({fields})"


class _LegacyMetadata:
    """``IMAGE.md``: the header under its C field names, read live at each attribute access (as
    the legacy module read the mapped struct: no waiting for a writer mid-frame)."""

    _RENAMED = {
        "NBkw": "keywords",
        "sem": "semaphores",
        "acqtime": "atime",
        "writetime": "write_time",
        "creationtime": "creation_time",
        "lastaccesstime": "last_access_time",
        "datatype": "datatype_code",
    }

    def __init__(self, stream: Stream) -> None:
        self._stream = stream

    def __getattr__(self, field: str) -> Any:
        if field.startswith("_"):
            raise AttributeError(field)
        if field == "cnt0":
            return self._stream.cnt0
        md = self._stream.metadata_now()
        if field == "version":
            return "2.00"
        if field == "size":
            return list(md.size)
        if field == "imagetype":
            return md.imagetype & 0xF
        if field == "location_str":
            return "CPU RAM" if md.location < 0 else f"GPU{md.location} RAM"
        name = self._RENAMED.get(field, field)
        value = getattr(md, name)
        if name in ("atime", "write_time", "creation_time", "last_access_time"):
            return _legacy_time(value)
        if name in ("shared", "write"):
            return int(value)
        return value

    def __repr__(self) -> str:
        md = self._stream.metadata_now()
        return (
            f"Name: {md.name}\nVersion: 2.00\nSize: {list(md.size)}\n"
            f"nelement: {md.nelement}\nshared: {int(md.shared)}\n"
            f"location: {'CPU RAM' if md.location < 0 else f'GPU{md.location} RAM'}\n"
            f"flag: {md.flag}\nlogflag: {md.logflag}\nsem: {md.semaphores}\n"
            f"cnt0: {md.cnt0}\ncnt1: {md.cnt1}\ncnt2: {md.cnt2}"
        )


class _LegacyImage:
    """``SHM.IMAGE``: the calls pyMilk code makes on the legacy module's ``Image``.

    Semaphore calls take an index and keep the C library's semantics and return codes: 0 for
    success, -1 when a try-wait found nothing or a timed wait timed out (or the stream was
    re-created or deleted meanwhile, as a C wait on the old file times out), 1 (with a message)
    for an index the stream does not have. A post is a post: a wait returns for a
    :meth:`sempost` without a frame, and once per post of a backlog, as in C.
    ``getsemwaitindex`` claims a slot for this process as the C function does: the slot this
    process already holds (so every ``SHM`` of one process shares it, as pyMilk's do), else the
    preferred one if free, else the first free one, else -1; the claim lasts as long as the
    process.
    """

    def __init__(self, stream: Stream) -> None:
        self._stream: Optional[Stream] = stream
        self.md = _LegacyMetadata(stream)

    @property
    def stream(self) -> Stream:
        if self._stream is None:
            raise ValueError("image not initialized (closed)")
        return self._stream

    def _attach(self, stream: Stream) -> None:
        self._stream = stream
        self.md = _LegacyMetadata(stream)

    def _semaphores(self) -> int:
        return len(self.stream.semaphore_values())

    def _bad_index(self, index: int) -> bool:
        if 0 <= index < self._semaphores():
            return False
        print(f"ERROR: image {self.stream.name} semaphore # {index} does not exist")
        return True

    @property
    def shape(self) -> Tuple[int, ...]:
        return tuple(self.stream.metadata_now().size)

    @property
    def semReadPID(self) -> List[int]:
        pids = dict(self.stream.registered_readers())
        return [pids.get(i, 0) for i in range(self._semaphores())]

    @property
    def semWritePID(self) -> List[int]:
        return self.stream.semaphore_writers()

    @property
    def streamproctrace0(self) -> ProcTrace:
        return ProcTrace(self.stream._proc_trace(0))

    def getsemwaitindex(self, index: int) -> int:
        preferred = index if 0 <= index < self._semaphores() else None
        slot = self.stream._sem_claim(preferred)
        return -1 if slot is None else slot

    def _wait(self, index: int, timeout: Optional[float]) -> int:
        if self._bad_index(index):
            return _BAD_INDEX
        try:
            return _OK if self.stream._sem_wait(index, timeout) else _FAILED
        except (ReplacedError, RemovedError):
            # A C wait on a replaced or deleted stream never succeeds either (it times out);
            # the caller checks the inode and relinks.
            return _FAILED

    def semwait(self, index: int) -> int:
        return self._wait(index, None)

    def semtimedwait(self, index: int, timeoutsec: float) -> int:
        return self._wait(index, min(max(timeoutsec, 0.0), 1e9))

    def semtrywait(self, index: int) -> int:
        if self._bad_index(index):
            return _BAD_INDEX
        return _OK if self.stream._sem_trywait(index) else _FAILED

    def sempost(self, index: int = -1) -> int:
        if index >= 0 and self._bad_index(index):
            return _BAD_INDEX
        self.stream._sem_post(index)
        return _OK

    def semflush(self, index: int) -> int:
        if index >= 0 and self._bad_index(index):
            return _BAD_INDEX
        self.stream._sem_flush(index)
        return _OK

    def semvalue(self, index: int) -> int:
        values = self.stream.semaphore_values()
        if not 0 <= index < len(values):
            print(f"ERROR: image {self.stream.name} semaphore # {index} does not exist")
            return -1
        return values[index]

    def copy(self) -> np.ndarray:
        """A consistent copy in the C-side shape (``size`` order, Fortran layout)."""
        return self.stream.read().T

    def __array__(self, dtype: Any = None, copy: Optional[bool] = None) -> np.ndarray:
        """``np.array(IMAGE)``: a consistent copy (C-side shape). ``copy=False`` (numpy 2) asks
        for no copy: it gets the live pixels, read-only (``stream.view()``: its caveat applies;
        pyMilk's was writable — write with ``set_data``), or ``ValueError`` if ``dtype`` would
        need a conversion."""
        if copy is False:
            live = self.stream.view().T
            if dtype is not None and np.dtype(dtype) != live.dtype:
                raise ValueError(
                    f"np.array(IMAGE, dtype={np.dtype(dtype)}, copy=False): the stream holds "
                    f"{live.dtype} pixels, a conversion needs a copy")
            return live
        a = self.copy()
        return a if dtype is None else a.astype(dtype, copy=False)

    def write(self, buffer: np.ndarray) -> None:
        """Writes a frame given in the C-side shape (``size`` order). A write flag left set by a
        writer that died mid-frame (the evidence of ``WriterDiedError``) is taken over, as
        pyMilk's unconditional write went through it; a live (or legacy) holder's flag is
        ``WriterBusyError``."""
        frame = np.asarray(buffer).T
        cnt1 = self.stream.metadata_now().cnt1 + 1
        try:
            self.stream.write_frame(frame, cnt1=cnt1)
            return
        except WriterBusyError as busy:
            refused = busy
        recovery = self.stream.recover(cnt1=cnt1)
        try:
            pixels = recovery.__enter__()
        except WriterBusyError:
            raise refused from None  # a live holder: no evidence it died
        try:
            pixels[...] = frame
        except BaseException as e:
            recovery.__exit__(type(e), e, e.__traceback__)
            raise
        recovery.__exit__(None, None, None)
        if recovery.took_over is not None:
            print(f"Warning SHM {self.stream.name} - writer PID {recovery.took_over} died "
                  f"mid-frame; took its write flag over", file=sys.stderr)

    def update(self) -> int:
        self.stream.repost()
        return 0

    def update_atime(self, atime: datetime.datetime) -> int:
        self.stream.repost(atime=atime)
        return 0

    def get_kws(self) -> Dict[str, Image_kw]:
        return {kw.name: kw for kw in self.get_kws_list()}

    def get_kws_list(self) -> List[Image_kw]:
        return [Image_kw(n, v, c) for n, v, c in self.stream._keyword_entries()]

    def set_kws(self, keywords: Mapping[str, Image_kw]) -> None:
        """Replaces every keyword with ``keywords`` (in name order, as the C++ map was)."""
        self.set_kws_list(keywords[name] for name in sorted(keywords))

    def set_kws_list(self, keywords: Iterable[Image_kw]) -> None:
        """Replaces every keyword with ``keywords``, in order (an empty ``Image_kw()``, type
        ``'N'``, is an unused entry: skipped)."""
        keywords = list(keywords)
        self.stream._clear_keywords()
        for kw in keywords:
            if kw.value is not None:
                self.stream._set_keyword(kw.name, kw.value, kw.comment)

    def close(self) -> int:
        if self._stream is not None:
            self._stream.close()
        return 0

    def destroy(self) -> int:
        if self._stream is not None and not self._stream.closed:
            self._stream.destroy()
        return 0

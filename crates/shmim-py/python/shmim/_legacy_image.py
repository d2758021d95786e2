"""``SHM.IMAGE`` of :mod:`shmim.compat`: the calls pyMilk code makes on the legacy pybind
module's ``Image`` (``md`` fields under their C names, semaphore calls by index), on a native
:class:`shmim.Stream`."""

from __future__ import annotations

import datetime
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from ._native import RemovedError, ReplacedError, Stream

KWValue = Union[int, float, str]


def _legacy_time(seconds: float) -> datetime.datetime:
    # The legacy module converted timespecs through the system clock: a naive local datetime.
    return datetime.datetime.fromtimestamp(seconds)


class _LegacyMetadata:
    """``IMAGE.md``: the header under its C field names, read live at each attribute access."""

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
        md = self._stream.metadata
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
        md = self._stream.metadata
        return (
            f"Name: {md.name}\nVersion: 2.00\nSize: {list(md.size)}\n"
            f"nelement: {md.nelement}\nshared: {int(md.shared)}\n"
            f"location: {'CPU RAM' if md.location < 0 else f'GPU{md.location} RAM'}\n"
            f"flag: {md.flag}\nlogflag: {md.logflag}\nsem: {md.semaphores}\n"
            f"cnt0: {md.cnt0}\ncnt1: {md.cnt1}\ncnt2: {md.cnt2}"
        )


class _LegacyImage:
    """``SHM.IMAGE``: the calls pyMilk code makes on the legacy module's ``Image``.

    Semaphore calls take an index as the C functions do; waiting on index ``i`` registers this
    handle as slot ``i``'s reader (``getsemwaitindex`` does it once for SHM), so a slot another
    live process holds is a ``ValueError`` rather than a shared wait. ``semflush`` drains this
    handle's slots (``-1``: all of them), not other readers'. Return values are the C library's:
    0 for success, -1 when a try-wait found nothing or a timed wait timed out (or the stream was
    re-created or deleted meanwhile), 1 for a bad index.
    """

    def __init__(self, stream: Stream) -> None:
        self._stream: Optional[Stream] = stream
        self._readers: Dict[int, Any] = {}
        self.md = _LegacyMetadata(stream)

    @property
    def stream(self) -> Stream:
        if self._stream is None:
            raise ValueError("image not initialized (closed)")
        return self._stream

    def _attach(self, stream: Stream) -> None:
        self.close_readers()
        self._stream = stream
        self.md = _LegacyMetadata(stream)

    def close_readers(self) -> None:
        for r in self._readers.values():
            r.close()
        self._readers.clear()

    def _bad_index(self, index: int) -> bool:
        if 0 <= index < len(self.stream.semaphore_values()):
            return False
        print(f"ERROR: image {self.stream.name} semaphore # {index} does not exist")
        return True

    def _reader(self, index: int):
        reader = self._readers.get(index)
        if reader is None:
            reader = self.stream.reader(slot=index)
            if reader.slot != index:
                reader.close()
                raise ValueError(f"semaphore {index} of {self.stream.name} is another reader's")
            self._readers[index] = reader
        return reader

    @property
    def shape(self) -> Tuple[int, ...]:
        return tuple(self.stream.metadata.size)

    @property
    def semReadPID(self) -> List[int]:
        pids = dict(self.stream.registered_readers())
        return [pids.get(i, 0) for i in range(len(self.stream.semaphore_values()))]

    def getsemwaitindex(self, index: int) -> int:
        if self._readers:
            return next(iter(self._readers))
        try:
            reader = self.stream.reader(slot=index if 0 <= index < len(self.stream.semaphore_values()) else None)
        except Exception:
            return -1
        slot = reader.slot
        if slot is None:
            return -1
        self._readers[slot] = reader
        return slot

    def _wait(self, index: int, timeout: Optional[float]) -> int:
        if self._bad_index(index):
            return 1
        try:
            self._reader(index).wait(timeout)
        except (TimeoutError, ReplacedError, RemovedError):
            # A C wait on a replaced or deleted stream never succeeds either (it times out);
            # the caller checks the inode and relinks.
            return -1
        return 0

    def semwait(self, index: int) -> int:
        return self._wait(index, None)

    def semtimedwait(self, index: int, timeoutsec: float) -> int:
        return self._wait(index, max(timeoutsec, 0.0))

    def semtrywait(self, index: int) -> int:
        if self._bad_index(index):
            return 1
        return 0 if self._reader(index).try_wait() is not None else -1

    def semflush(self, index: int) -> int:
        for i, reader in self._readers.items():
            if index < 0 or index == i:
                reader.flush()
        return 0

    def semvalue(self, index: int) -> int:
        values = self.stream.semaphore_values()
        if not 0 <= index < len(values):
            print(f"ERROR: image {self.stream.name} semaphore # {index} does not exist")
            return -1
        return values[index]

    def copy(self) -> np.ndarray:
        """A consistent copy in the C-side shape (``size`` order, Fortran layout)."""
        return self.stream.read().T

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        a = self.copy()
        return a if dtype is None else a.astype(dtype)

    def write(self, buffer: np.ndarray) -> None:
        """Writes a frame given in the C-side shape (``size`` order)."""
        self.stream.write_frame(np.asarray(buffer).T, cnt1=self.stream.metadata.cnt1 + 1)

    def update(self) -> int:
        self.stream.repost()
        return 0

    def update_atime(self, atime: datetime.datetime) -> int:
        self.stream.repost(atime=atime)
        return 0

    def get_kws(self) -> Dict[str, Any]:
        return self.stream.keywords.to_dict()

    def close(self) -> int:
        self.close_readers()
        if self._stream is not None:
            self._stream.close()
        return 0

    def destroy(self) -> int:
        self.close_readers()
        if self._stream is not None and not self._stream.closed:
            self._stream.destroy()
        return 0

"""shmim: ImageStreamIO shared-memory image streams as numpy arrays.

A stream is a file ``DIR/NAME.im.shm`` (DIR: ``$MILK_SHM_DIR``, else ``/milk/shm``, else ``/tmp``,
resolved once per process at first use; or ``dir=``) shared byte for byte with the C programs of milk, CACAO and MagAO-X. ``shmim`` reads and writes
it with the synchronisation done right: reads are consistent copies (never torn), writes publish
in the protocol's order (pixels, times, frame counter, write flag, then the semaphores that wake
readers).

>>> import numpy as np, shmim
>>> cam = shmim.Stream.create("cam", (64, 64), np.float32, replace=True)   # doctest: +SKIP
>>> cam.write_frame(np.ones((64, 64), np.float32))                          # doctest: +SKIP
1
>>> reader = shmim.Stream.open("cam").reader()                              # doctest: +SKIP
>>> for frame in reader.frames(timeout=1.0): ...                            # doctest: +SKIP

``shmim.compat.SHM`` is pyMilk's ``SHM`` class on top of this: change the import and keep the
script.
"""

from ._native import (
    WAIT_SLICE_SECONDS,
    Frames,
    InvalidStreamError,
    KeywordsFullError,
    Metadata,
    NoFreeSlotError,
    PixelMemory,
    Reader,
    RemovedError,
    ReplacedError,
    Stream,
    StreamError,
    TornError,
    Write,
    WriterBusyError,
    WriterDiedError,
    WriterStuckError,
)
from ._keywords import Keywords

try:
    from importlib.metadata import version as _version

    __version__ = _version("shmim")
except Exception:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "Frames",
    "InvalidStreamError",
    "Keywords",
    "KeywordsFullError",
    "Metadata",
    "NoFreeSlotError",
    "PixelMemory",
    "Reader",
    "RemovedError",
    "ReplacedError",
    "Stream",
    "StreamError",
    "TornError",
    "WAIT_SLICE_SECONDS",
    "Write",
    "WriterBusyError",
    "WriterDiedError",
    "WriterStuckError",
]

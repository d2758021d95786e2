"""Checksum frames, as `shmim write --pattern checksum` makes them and `shmim read` checks them
(the format is documented in crates/shmim-cli/src/checksum.rs): little-endian u64 words
`magic, frame, stamp, checksum`, then a payload in which word j is `frame*K1 ^ j*K2`, and the
checksum weights every payload word by its position, so a frame torn between two is detected."""

from __future__ import annotations

import time

import numpy as np

HEADER = 32
MAGIC = int.from_bytes(b"shmimCK1", "little")
K1 = 0x9E3779B97F4A7C15
K2 = 0xC2B2AE3D27D4EB4F
MASK = (1 << 64) - 1


def _payload_sum(base: int, words: np.ndarray, tail: bytes) -> int:
    j = np.arange(len(words), dtype=np.uint64)
    with np.errstate(over="ignore"):
        weighted = int(np.sum(words * (np.uint64(2) * j + np.uint64(1)), dtype=np.uint64))
    total = (base + weighted) & MASK
    for k, b in enumerate(tail):
        total = (total + (b << (8 * k))) & MASK
    return total


def fill(buf: np.ndarray, frame: int) -> None:
    """Writes checksum frame `frame` into the bytes of `buf` (stamp 0)."""
    raw = buf.reshape(-1).view(np.uint8)
    base = (frame * K1) & MASK
    n = (raw.size - HEADER) // 8
    j = np.arange(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        words = np.uint64(base) ^ (j * np.uint64(K2))
    raw[HEADER : HEADER + 8 * n] = words.view(np.uint8)
    tail = bytes((base >> (8 * k)) & 0xFF for k in range(raw.size - HEADER - 8 * n))
    raw[HEADER + 8 * n :] = np.frombuffer(tail, dtype=np.uint8)
    head = np.array([MAGIC, frame, 0, _payload_sum(base, words, tail)], dtype=np.uint64)
    raw[:HEADER] = head.view(np.uint8)


def stamp(buf: np.ndarray) -> None:
    """Writes the publish stamp (CLOCK_MONOTONIC ns) into a filled frame."""
    raw = buf.reshape(-1).view(np.uint8)
    raw[16:24] = np.array([time.clock_gettime_ns(time.CLOCK_MONOTONIC)], dtype=np.uint64).view(np.uint8)


def verify(buf: np.ndarray):
    """`("whole", frame, stamp)`, `("torn", frame, 0)`, or `("plain", 0, 0)` without the magic."""
    raw = np.ascontiguousarray(buf).reshape(-1).view(np.uint8)
    head = raw[:HEADER].view(np.uint64)
    if raw.size < HEADER or int(head[0]) != MAGIC:
        return ("plain", 0, 0)
    frame = int(head[1])
    n = (raw.size - HEADER) // 8
    words = raw[HEADER : HEADER + 8 * n].view(np.uint64)
    tail = bytes(raw[HEADER + 8 * n :])
    ok = _payload_sum((frame * K1) & MASK, words, tail) == int(head[3])
    return ("whole" if ok else "torn", frame, int(head[2]) if ok else 0)

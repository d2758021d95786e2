"""pyMilk's conventions for how a Python-side array sits in a stream (``shmim.compat``).

On the C side (``shape_c``) axes are in file order: ``size[0]`` first, varying fastest (Fortran
order). On the Python side an image goes through one of the eight isometries of the square (the
*symcode*: ``s & 4`` transposes, then ``s & 1`` flips the first image axis and ``s & 2`` the
second) and a cube additionally through a *triDim* rule saying where its stack axis is on each
side. Every transform here returns a numpy view: nothing is copied.
"""

from __future__ import annotations

import numpy as np

#: triDim values (Python-side position of the stack axis → C-side position).
LAST2LAST = 0
LAST2FRONT = 1
FRONT2FRONT = 2
FRONT2LAST = 3


def _check(symcode: int) -> None:
    if symcode not in range(8):
        raise ValueError(f"symcode must be 0-7, not {symcode!r}")


def _flip(a: np.ndarray, axes: tuple[int, int], bits: int) -> np.ndarray:
    index = [slice(None)] * a.ndim
    for bit, axis in ((1, axes[0]), (2, axes[1])):
        if bits & bit:
            index[axis] = slice(None, None, -1)
    return a[tuple(index)]


def encode_image_axes(a: np.ndarray, symcode: int, axes: tuple[int, int]) -> np.ndarray:
    """Python side → C side for the image on ``axes``: transpose (``s & 4``), then flips."""
    _check(symcode)
    if symcode & 4:
        a = np.swapaxes(a, *axes)
    return _flip(a, axes, symcode & 3)


def decode_image_axes(a: np.ndarray, symcode: int, axes: tuple[int, int]) -> np.ndarray:
    """C side → Python side: the inverse of :func:`encode_image_axes` (flips, then transpose)."""
    _check(symcode)
    a = _flip(a, axes, symcode & 3)
    if symcode & 4:
        a = np.swapaxes(a, *axes)
    return a


def _py_stack_first(tri_dim: int) -> bool:
    if tri_dim not in (LAST2LAST, LAST2FRONT, FRONT2FRONT, FRONT2LAST):
        raise ValueError(f"triDim must be 0-3, not {tri_dim!r}")
    return tri_dim in (FRONT2FRONT, FRONT2LAST)


def encode(a: np.ndarray, symcode: int, tri_dim: int) -> np.ndarray:
    """A Python-side array (1 to 3 axes) as its C-side view."""
    if a.ndim <= 1:
        return a
    if a.ndim == 2:
        return encode_image_axes(a, symcode, (0, 1))
    if a.ndim == 3:
        first = _py_stack_first(tri_dim)
        c = encode_image_axes(a, symcode, (1, 2) if first else (0, 1))
        if tri_dim == LAST2FRONT:
            c = np.moveaxis(c, 2, 0)
        elif tri_dim == FRONT2LAST:
            c = np.moveaxis(c, 0, 2)
        return c
    raise ValueError(f"streams have 1 to 3 axes, not {a.ndim}")


def decode(c: np.ndarray, symcode: int, tri_dim: int) -> np.ndarray:
    """A C-side array (after squeezing) as its Python-side view: the inverse of :func:`encode`."""
    if c.ndim <= 1:
        return c
    if c.ndim == 2:
        return decode_image_axes(c, symcode, (0, 1))
    if c.ndim == 3:
        first = _py_stack_first(tri_dim)
        if tri_dim == LAST2FRONT:
            c = np.moveaxis(c, 0, 2)
        elif tri_dim == FRONT2LAST:
            c = np.moveaxis(c, 2, 0)
        return decode_image_axes(c, symcode, (1, 2) if first else (0, 1))
    raise ValueError(f"streams have 1 to 3 axes, not {c.ndim}")


def squeeze_slices(shape_c: tuple[int, ...], squeeze: bool):
    """Index tuples that drop (read) and restore (write) the length-1 axes of ``shape_c``."""
    if not squeeze:
        return Ellipsis, Ellipsis
    read = tuple(0 if n == 1 else slice(None) for n in shape_c)
    write = tuple(None if n == 1 else slice(None) for n in shape_c)
    return read, write

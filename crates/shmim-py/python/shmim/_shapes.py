"""pyMilk's conventions for how a Python-side array sits in a stream (``shmim.compat``).

On the C side (``shape_c``) axes are in file order: ``size[0]`` first, varying fastest (Fortran
order). On the Python side an image goes through one of the eight isometries of the square (the
*symcode*: ``s & 4`` transposes, then ``s & 1`` reverses the first image axis and ``s & 2`` the
second) and a cube additionally through a *triDim* rule saying where its stack axis is on each
side. Every transform is a numpy view (nothing is copied), and each is worked out once per
stream as one ``transpose`` and one reversing index (a :class:`View`), so applying it per frame
costs two cheap numpy calls.
"""

from __future__ import annotations

from typing import Callable, FrozenSet, Tuple

import numpy as np

#: triDim values (Python-side position of the stack axis → C-side position).
LAST2LAST = 0
LAST2FRONT = 1
FRONT2FRONT = 2
FRONT2LAST = 3


class View:
    """A view of an array as ``a.transpose(perm)`` with the axes in ``reversed_axes`` reversed."""

    __slots__ = ("perm", "reversed_axes", "_index", "_transpose")

    def __init__(self, ndim: int, perm: Tuple[int, ...] = (), reversed_axes: FrozenSet[int] = frozenset()):
        self.perm = perm or tuple(range(ndim))
        self.reversed_axes = reversed_axes
        self._transpose = self.perm != tuple(range(ndim))
        self._index = tuple(slice(None, None, -1) if i in reversed_axes else slice(None) for i in range(ndim))

    def then_transpose(self, q: Tuple[int, ...]) -> View:
        """This view followed by ``.transpose(q)``."""
        return View(len(q), tuple(self.perm[i] for i in q),
                    frozenset(i for i, qi in enumerate(q) if qi in self.reversed_axes))

    def then_reverse(self, axes) -> View:
        """This view followed by reversing ``axes``."""
        return View(len(self.perm), self.perm, self.reversed_axes ^ frozenset(axes))

    def __call__(self, a: np.ndarray) -> np.ndarray:
        if self._transpose:
            a = a.transpose(self.perm)
        return a[self._index] if self.reversed_axes else a


def _check(symcode: int, tri_dim: int) -> None:
    if symcode not in range(8):
        raise ValueError(f"symcode must be 0-7, not {symcode!r}")
    if tri_dim not in (LAST2LAST, LAST2FRONT, FRONT2FRONT, FRONT2LAST):
        raise ValueError(f"triDim must be 0-3, not {tri_dim!r}")


def _swap(ndim: int, a: int, b: int) -> Tuple[int, ...]:
    p = list(range(ndim))
    p[a], p[b] = p[b], p[a]
    return tuple(p)


def _image_axes(ndim: int, tri_dim: int) -> Tuple[int, int]:
    """Axes of the image on the Python side: a cube's stack axis is last (triDim 0, 1) or first."""
    return (1, 2) if ndim == 3 and tri_dim in (FRONT2FRONT, FRONT2LAST) else (0, 1)


def _flips(symcode: int, axes: Tuple[int, int]) -> Tuple[int, ...]:
    return tuple(ax for bit, ax in ((1, axes[0]), (2, axes[1])) if symcode & bit)


def encoder(ndim: int, symcode: int, tri_dim: int) -> Callable[[np.ndarray], np.ndarray]:
    """Python side → C side, for arrays of ``ndim`` axes: transpose the image (``s & 4``),
    reverse its axes, then move a cube's stack axis (triDim 1: last → first, 3: first → last)."""
    _check(symcode, tri_dim)
    v = View(ndim)
    if ndim in (2, 3):
        axes = _image_axes(ndim, tri_dim)
        if symcode & 4:
            v = v.then_transpose(_swap(ndim, *axes))
        v = v.then_reverse(_flips(symcode, axes))
    if ndim == 3 and tri_dim == LAST2FRONT:
        v = v.then_transpose((2, 0, 1))
    elif ndim == 3 and tri_dim == FRONT2LAST:
        v = v.then_transpose((1, 2, 0))
    return v


def decoder(ndim: int, symcode: int, tri_dim: int) -> Callable[[np.ndarray], np.ndarray]:
    """C side (after squeezing) → Python side: the inverse of :func:`encoder`."""
    _check(symcode, tri_dim)
    v = View(ndim)
    if ndim == 3 and tri_dim == LAST2FRONT:
        v = v.then_transpose((1, 2, 0))
    elif ndim == 3 and tri_dim == FRONT2LAST:
        v = v.then_transpose((2, 0, 1))
    if ndim in (2, 3):
        axes = _image_axes(ndim, tri_dim)
        v = v.then_reverse(_flips(symcode, axes))
        if symcode & 4:
            v = v.then_transpose(_swap(ndim, *axes))
    return v


def squeeze_slices(shape_c: Tuple[int, ...], squeeze: bool):
    """Index tuples that drop (read) and restore (write) the length-1 axes of ``shape_c``."""
    if not squeeze:
        return Ellipsis, Ellipsis
    read = tuple(0 if n == 1 else slice(None) for n in shape_c)
    write = tuple(None if n == 1 else slice(None) for n in shape_c)
    return read, write

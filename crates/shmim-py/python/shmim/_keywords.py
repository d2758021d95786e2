"""The keywords of a stream as a mutable mapping (``stream.keywords``)."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import TYPE_CHECKING, Dict, Tuple, Union

if TYPE_CHECKING:
    from ._native import Stream

Value = Union[int, float, str]


class Keywords(MutableMapping):
    """``name -> value`` over a stream's keyword entries, read live from the file.

    Values are ``int`` (stored as a 64-bit integer), ``float`` (a double) or ``str`` (at most 15
    bytes); names at most 15 bytes, comments at most 79. ``kw[name] = value`` keeps the entry's
    comment, ``kw[name] = (value, comment)`` sets both; ``del kw[name]`` frees the entry.
    A full table raises ``shmim.KeywordsFullError``.
    """

    __slots__ = ("_stream",)

    def __init__(self, stream: Stream) -> None:
        self._stream = stream

    def _entries(self):
        return self._stream._keyword_entries()

    def _find(self, name: str):
        for entry in self._entries():
            if entry[0] == name:
                return entry
        raise KeyError(name)

    def __getitem__(self, name: str) -> Value:
        return self._find(name)[1]

    def __setitem__(self, name: str, value) -> None:
        if isinstance(value, tuple):
            if not 1 <= len(value) <= 2:
                raise ValueError("a keyword is set to value or (value, comment)")
            self._stream._set_keyword(name, value[0], value[1] if len(value) == 2 else "")
            return
        try:
            comment = self._find(name)[2]
        except KeyError:
            comment = ""
        self._stream._set_keyword(name, value, comment)

    def __delitem__(self, name: str) -> None:
        if not self._stream._clear_keyword(name):
            raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter([entry[0] for entry in self._entries()])

    def __len__(self) -> int:
        return len(self._entries())

    def comment(self, name: str) -> str:
        """The comment of keyword ``name``."""
        return self._find(name)[2]

    def set(self, name: str, value: Value, comment: str = "") -> None:
        """Sets keyword ``name`` to ``value`` with ``comment``."""
        self._stream._set_keyword(name, value, comment)

    def clear(self) -> None:
        """Frees every keyword entry."""
        self._stream._clear_keywords()

    def to_dict(self, comments: bool = False) -> Union[Dict[str, Value], Dict[str, Tuple[Value, str]]]:
        """A plain dict: ``{name: value}``, or ``{name: (value, comment)}`` with ``comments``."""
        if comments:
            return {n: (v, c) for n, v, c in self._entries()}
        return {n: v for n, v, _ in self._entries()}

    def __repr__(self) -> str:
        return f"Keywords({self.to_dict()!r})"

"""A JSON object read member by member, one of its arrays item by item, in bounded memory.

The bulk import used to read a JSON case file three times: whole with json.loads (the strict
checks: UTF-8, nesting, duplicate keys, NUL), once more with ijson for the top-level entries
(which built the whole claims list as well), then with ijson again for the claims. This reads it
once: the top level by hand, every value with json's own C decoder (`raw_decode`) from a window
of the file, with the strict loader's duplicate-key rule. It only ever says *that* the file is
broken (`Broken`); the caller then asks the whole-file loader, whose one-line message names what
and where, so both paths report a bad file in the same words.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

BLOCK = 1 << 20  # characters read at a time; an item longer than this just takes several reads
_SPACE = re.compile(r"[ \t\n\r]*")  # what json.loads skips between tokens
NUL_ESCAPE = "\\u0000"  # the only way JSON text can hold a NUL character


class Broken(Exception):
    """The file is not one JSON object with unique keys (the whole-file loader says how)."""


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise Broken
    return out


class Items(Iterator[tuple[Any, bool]]):
    """The items of the streamed array: (item, may_hold_nul), read as they are asked for.

    `may_hold_nul` is True when the item's text holds a `\\u0000` escape, so callers look for
    the NUL character only in those items.
    """

    def __init__(self, items: Iterator[tuple[Any, bool]]) -> None:
        self._items = items

    def __next__(self) -> tuple[Any, bool]:
        return next(self._items)


class ObjectReader:
    """`members()` yields (key, value) of the top-level object, and `stream`'s array as `Items`.

    The `Items` must be used up before the next member is asked for.
    """

    def __init__(self, fh: BinaryIO, stream: str) -> None:
        self._fh = fh
        self._stream = stream
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._decoder = json.JSONDecoder(object_pairs_hook=_unique_pairs)
        self._buf = ""
        self._pos = 0
        self._eof = False

    def _more(self) -> bool:
        """Append the next block to the window (dropping what was read); False at the end of the file."""
        if self._eof:
            return False
        data = self._fh.read(max(BLOCK, len(self._buf) - self._pos))  # a value longer than the window: double it
        try:
            text = self._utf8.decode(data, final=not data)
        except UnicodeDecodeError:
            raise Broken from None
        self._buf = self._buf[self._pos :] + text
        self._pos = 0
        self._eof = not data
        return True

    def _peek(self) -> str:
        """The next character that is not white space ('' at the end of the file)."""
        while True:
            self._pos = _SPACE.match(self._buf, self._pos).end()  # type: ignore[union-attr]
            if self._pos < len(self._buf) or not self._more():
                return self._buf[self._pos : self._pos + 1]

    def _expect(self, char: str) -> None:
        if self._peek() != char:
            raise Broken
        self._pos += 1

    def _value(self) -> tuple[Any, int, int]:
        """The next value and where its text starts and ends in the window."""
        self._peek()
        while True:
            try:
                value, end = self._decoder.raw_decode(self._buf, self._pos)
            except json.JSONDecodeError:
                if self._more():  # cut off by the window, or really broken: more text tells
                    continue
                raise Broken from None
            except (RecursionError, ValueError):  # ValueError: a number past Python's 4,300-digit limit
                raise Broken from None
            if end == len(self._buf) and self._more():  # a number may go on in the next block
                continue
            start, self._pos = self._pos, end
            return value, start, end

    def _items(self) -> Iterator[tuple[Any, bool]]:
        self._expect("[")
        if self._peek() == "]":
            self._pos += 1
            return
        while True:
            value, start, end = self._value()
            yield value, self._buf.find(NUL_ESCAPE, start, end) >= 0
            char = self._peek()
            self._pos += 1
            if char == "]":
                return
            if char != ",":
                raise Broken

    def members(self) -> Iterator[tuple[str, Any]]:
        self._expect("{")
        seen: set[str] = set()
        if self._peek() == "}":
            self._pos += 1
        else:
            while True:
                if self._peek() != '"':
                    raise Broken
                key = self._value()[0]
                if key in seen:
                    raise Broken
                seen.add(key)
                self._expect(":")
                if key == self._stream and self._peek() == "[":
                    yield key, Items(self._items())
                else:
                    yield key, self._value()[0]
                char = self._peek()
                self._pos += 1
                if char == "}":
                    break
                if char != ",":
                    raise Broken
        if self._peek() != "":
            raise Broken  # text after the object

"""Fast rule lookup: index compiled rules by the first letters their pattern can match.

Scanning a report with a hundred-way regex alternation at every character is slow. Instead the
labeller visits only token starts and tries just the rules whose pattern can begin with the
token's first one to three (lower-cased) characters. Prefixes are derived from the parsed regex;
a rule whose prefix cannot be worked out is tried at every token start.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

try:  # Python >= 3.11 keeps the regex parser here.
    from re import _parser as _sre  # type: ignore[attr-defined]
    from re._constants import (
        ASSERT,
        ASSERT_NOT,
        AT,
        BRANCH,
        IN,
        LITERAL,
        MAX_REPEAT,
        MIN_REPEAT,
        NEGATE,
        RANGE,
        SUBPATTERN,
    )
except ImportError:  # pragma: no cover - fall back to trying every rule everywhere
    _sre = None

K = 3
_MAX = 400
_TOKEN = re.compile(r"\w+|[^\w\s]")


def _charset(av: Any) -> set[str] | None:
    out: set[str] = set()
    for op, val in av:
        if op is LITERAL:
            out.add(chr(val).lower())
        elif op is RANGE and val[1] - val[0] < 30:
            out.update(chr(c).lower() for c in range(val[0], val[1] + 1))
        elif op is NEGATE:
            return None
        else:
            return None
    return out


def _prefixes(items: Sequence[Any], k: int) -> set[str] | None:
    """Possible lower-case prefixes (length <= k) of what `items` matches; None: unknown."""
    if k == 0 or not items:
        return {""}
    op, av = items[0]
    rest = list(items[1:])
    res: set[str] | None
    if op is LITERAL:
        tail = _prefixes(rest, k - 1)
        res = None if tail is None else {chr(av).lower() + s for s in tail}
    elif op is IN:
        chars = _charset(av)
        if not chars:
            return {""}  # unknown from here on: the prefix stops
        tail = _prefixes(rest, k - 1)
        res = None if tail is None else {c + s for c in chars for s in tail}
    elif op is BRANCH:
        res = set()
        for branch in av[1]:
            sub = _prefixes(list(branch) + rest, k)
            if sub is None:
                return None
            res |= sub
    elif op is SUBPATTERN:
        res = _prefixes(list(av[-1]) + rest, k)
    elif op in (MAX_REPEAT, MIN_REPEAT):
        lo, hi, sub = av
        once = _prefixes(list(sub) + (rest if hi == 1 else []), k)
        if once is None:
            return None
        res = once
        if lo == 0:
            skip = _prefixes(rest, k)
            res = None if skip is None else res | skip
    elif op in (AT, ASSERT, ASSERT_NOT):
        res = _prefixes(rest, k)
    else:
        return {""}  # any other construct: the prefix stops here
    if res is not None and len(res) > _MAX:
        return None
    return res


def prefixes(pattern: str) -> set[str] | None:
    """Lower-case prefixes (1 to 3 characters) that every match of `pattern` starts with one
    of; None when they cannot be worked out."""
    if _sre is None:
        return None
    try:
        res = _prefixes(list(_sre.parse(pattern, re.IGNORECASE)), K)
    except Exception:  # pragma: no cover - unusual syntax: be safe, try it everywhere
        return None
    return None if res is None or "" in res else res


class Dispatch:
    """Rules indexed by prefix. `add(item, pattern)`; `candidates(low, pos)` yields the items
    that may match at `pos` of the lower-cased text `low`."""

    def __init__(self) -> None:
        self.by_prefix: dict[str, list[Any]] = {}
        self.always: list[Any] = []
        self._cache: dict[str, tuple[Any, ...]] = {}

    def add(self, item: Any, pattern: str) -> None:
        self._cache.clear()
        pre = prefixes(pattern)
        if pre is None:
            self.always.append(item)
            return
        for p in pre:
            self.by_prefix.setdefault(p, []).append(item)

    def candidates(self, low: str, pos: int) -> tuple[Any, ...]:
        key = low[pos:pos + K]
        hit = self._cache.get(key)
        if hit is None:
            get = self.by_prefix.get
            found = list(self.always)
            for n in range(1, len(key) + 1):
                found.extend(get(key[:n], ()))
            hit = self._cache[key] = tuple(found)
            if len(self._cache) > 50_000:
                self._cache.clear()
        return hit


def token_starts(text: str, start: int, end: int) -> list[int]:
    """Start offsets of word and punctuation tokens in ``text[start:end]``."""
    return [m.start() for m in _TOKEN.finditer(text, start, end)]

"""Style retrieval: phrase each finding the way a user's own reports do.

`build_style(corpus)` reads a report corpus (anything `radlens.text.readers.read_reports`
reads: a folder of IU XML or .txt reports, a CSV, a JSONL), splits the FINDINGS/IMPRESSION text
into sentences, labels each sentence on its own with the radlens labeller and keeps, for every
(finding, call), the most common sentence the labeller tags with exactly that finding and that
value (ties: the shorter, then alphabetical). Sentences that carry their own location, a
comparison, numbers or de-identification marks are skipped, because they would contradict or
add to what the models found. A `Style` can be saved to JSON and loaded back.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from radlens.errors import DataError
from radlens.schema import Call

log = logging.getLogger(__name__)

STYLE_FORMAT = "radlens-style/1"
_VALUES = {1: Call.POSITIVE, 0: Call.NEGATIVE, -1: Call.UNCERTAIN}
_SKIP = re.compile(
    r"\d|xxxx|\b(right|left|bilateral(ly)?|bibasilar|basilar|bases?|apex|apices|apical|upper|"
    r"lower|middle|mid|lobes?|lingula\w*|hilar|retrocardiac|perihilar|again|unchanged|stable|"
    r"prior|previous(ly)?|interval|new|compared|since|persistent|persists|improv\w*|worse\w*|"
    r"increas\w*|decreas\w*|resolv\w*|small|large|moderate|mild|severe|trace|minimal|biapical|"
    r"granulom\w*|chronic|old|healed|calcifi\w*)\b",
    re.IGNORECASE)


@dataclass(frozen=True)
class Style:
    """Per-(label, call) phrasing retrieved from a corpus.

    `phrases` maps "label|call" to (sentence, appendable, count): `appendable` is True when the
    finding's mention ends the sentence, so a location phrase can be added before the period.
    """

    name: str
    phrases: dict[str, tuple[str, bool, int]] = field(default_factory=dict)

    def sentence(self, label: str, call: Call, location: str = "") -> str | None:
        """The corpus sentence for `label` and `call`, with `location` (" in the right lower
        zone") inserted before the final period; None when the corpus has no phrasing for it,
        or when a location must be given and the sentence cannot take one."""
        found = self.phrases.get(f"{label}|{call.value}")
        if found is None:
            return None
        text, appendable, _ = found
        if not location:
            return text
        if not appendable:
            return None
        return text.rstrip(".") + location + "."

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write this style as JSON to `path`; returns the path."""
        p = Path(path)
        p.write_text(json.dumps({"format": STYLE_FORMAT, "name": self.name,
                                 "phrases": {k: list(v) for k, v in self.phrases.items()}},
                                indent=1), encoding="utf-8")
        return p


def load_style(path: str | os.PathLike[str]) -> Style:
    """Load a style saved with `Style.save`; `DataError` naming the file when it is not one."""
    p = Path(path)
    try:
        data = json.loads(p.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read the style file ({exc})", p) from exc
    if not isinstance(data, dict) or data.get("format") != STYLE_FORMAT:
        raise DataError(f"not a radlens style file (expected format {STYLE_FORMAT!r})", p)
    phrases = {str(k): (str(v[0]), bool(v[1]), int(v[2])) for k, v in data["phrases"].items()}
    return Style(str(data.get("name", p.stem)), phrases)


def _sentences(text: str) -> list[str]:
    from radlens.text.sections import split_sections
    from radlens.text.sentences import split_sentences

    out = []
    for sec in split_sections(text):
        if sec.labelled:
            out += [" ".join(text[s:e].split()) for s, e in split_sentences(text, sec.start,
                                                                          sec.end)]
    return out


def build_style(corpus: str | os.PathLike[str], vocabs: tuple[str, ...] = ("chexpert14",),
                min_count: int = 3, max_words: int = 12) -> Style:
    """Build a `Style` from the reports in `corpus` (see the module docstring).

    `vocabs`: labeller vocabularies whose labels get phrasings; `min_count`: a phrasing must
    occur at least this often; `max_words`: longer sentences are skipped. Raises the readers'
    `InputError`/`DataError` for a missing or unreadable corpus.
    """
    from radlens.text.labeler import label
    from radlens.text.readers import read_reports

    rows = read_reports(Path(corpus))
    pool: list[str] = []
    for row in rows:
        if row.text:
            pool += [s for s in _sentences(row.text) if s[:1].isalpha()
                     and len(s.split()) <= max_words and not _SKIP.search(s)]
    unique = sorted(set(pool))
    counts = Counter(" ".join(s.lower().rstrip(".").split()) for s in pool)
    best: dict[str, tuple[str, bool, int]] = {}
    for vocab in vocabs:
        for text, rec in zip(unique, label(unique, vocab=vocab), strict=True):
            vals = {k: v for k, v in rec.labels if v is not None and k != "No Finding"}
            if len(vals) != 1:
                continue
            (lab, value), = vals.items()
            blocked = vocab == "chexpert14" and rec.value("No Finding") != 1
            if value == 0 and blocked:
                continue  # a negative sentence that also affirms some other abnormality
            key = f"{lab}|{_VALUES[value].value}"
            norm = " ".join(text.lower().rstrip(".").split())
            clean = text.rstrip(".").strip()
            sentence = clean[:1].upper() + clean[1:] + "."
            mention_end = max(e.end for e in rec.evidence if e.label == lab)
            appendable = mention_end >= len(text.rstrip(".").rstrip())
            cand = (sentence, appendable, counts[norm])
            old = best.get(key)
            if counts[norm] >= min_count and (old is None or (-cand[2], len(cand[0]), cand[0])
                                              < (-old[2], len(old[0]), old[0])):
                best[key] = cand
    log.info("style from %s: %d phrasings from %d reports", corpus, len(best), len(rows))
    return Style(Path(corpus).name, best)


@lru_cache(maxsize=4)
def _cached(path: str, mtime: float) -> Style:
    p = Path(path)
    if p.is_file() and p.suffix.lower() == ".json":
        return load_style(p)
    return build_style(p)


def resolve_style(style: Style | str | os.PathLike[str] | None) -> Style | None:
    """A `Style` from a Style, a saved style JSON, or a report corpus path (built, cached)."""
    if style is None or isinstance(style, Style):
        return style
    p = Path(style).expanduser()
    if not p.exists():
        raise DataError("style corpus not found", p)
    return _cached(str(p.resolve()), p.stat().st_mtime)

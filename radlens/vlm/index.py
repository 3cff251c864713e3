"""A retrieval index in SQLite: image and text embeddings with brute-force cosine search.

Tables: ``meta`` (model name and weights SHA-256, embedding size) and ``items`` (id, kind
"image" or "text", source path, text, float32 vector). Search loads the vectors once into one
NumPy matrix and ranks by dot product (vectors are unit length), which takes milliseconds for
100,000 vectors. Building is incremental: files already in the store are skipped, so an
interrupted build continues where it stopped.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from radlens.data.adapters import IMAGE_SUFFIXES
from radlens.errors import DataError, RadlensError
from radlens.vlm.model import VisionLanguageModel

log = logging.getLogger(__name__)
KINDS = ("image", "text")
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, kind TEXT NOT NULL,
    source TEXT NOT NULL, text TEXT, vector BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS items_source ON items (source);
"""


@dataclass(frozen=True)
class Hit:
    """One search result: cosine similarity `score` in [-1, 1], item kind, source and text."""

    score: float
    kind: str
    source: str
    text: str | None
    id: int


def model_id(model: VisionLanguageModel) -> str:
    """Identity of a model's embedding space: card name and weights digest."""
    return f"{model.card['name']}@{getattr(model, 'digest', '')[:16]}"


def open_store(path: str | Path, model: VisionLanguageModel | None = None,
               create: bool = False) -> sqlite3.Connection:
    """Open an index; with `model`, check (or, when new, record) that it made the vectors."""
    p = Path(path)
    if not create and not p.is_file():
        raise DataError("index store not found (build it with 'radlens index build')", p)
    try:
        con = sqlite3.connect(p)
        con.executescript(SCHEMA)
        meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.DatabaseError as exc:
        raise DataError(f"not a radlens index ({exc})", p) from exc
    if model is not None:
        mid = model_id(model)
        if not meta:
            con.execute("INSERT INTO meta VALUES ('model', ?)", (mid,))
            con.commit()
        elif meta.get("model") != mid:
            con.close()
            raise DataError(f"the index was built with {meta.get('model')}, not {mid}", p)
    return con


def _add(con: sqlite3.Connection, kind: str, sources: Sequence[str],
         texts: Sequence[str | None], vectors: np.ndarray) -> None:
    con.executemany("INSERT INTO items (kind, source, text, vector) VALUES (?, ?, ?, ?)",
                    [(kind, s, t, v.astype(np.float32).tobytes())
                     for s, t, v in zip(sources, texts, vectors, strict=True)])
    con.commit()


def add_texts(con: sqlite3.Connection, model: VisionLanguageModel, sources: Sequence[str],
              texts: Sequence[str]) -> int:
    """Embed and store texts (`sources` says where each came from); returns the count."""
    if texts:
        _add(con, "text", sources, texts, model.embed_texts(texts))
    return len(texts)


def build(directory: str | Path, store: str | Path, model: VisionLanguageModel,
          sentences: bool = False, batch: int = 64,
          progress: bool = True) -> dict[str, int]:
    """Index every image under `directory` and every ``.txt`` report (FINDINGS + IMPRESSION;
    each sentence separately with `sentences`). Returns counts: images, texts, skipped
    (unreadable), existing (already in the store)."""
    from radlens.io import load_image
    from radlens.text import split_sentences
    from radlens.vlm.pairs import report_text

    root = Path(directory)
    if not root.is_dir():
        raise DataError("folder to index not found", root)
    con = open_store(store, model, create=True)
    done = {r[0] for r in con.execute("SELECT DISTINCT source FROM items")}
    files = sorted(p for p in root.rglob("*") if p.is_file())
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES and str(p) not in done]
    reports = [p for p in files if p.suffix.lower() == ".txt" and str(p) not in done]
    counts = {"images": 0, "texts": 0, "skipped": 0,
              "existing": len(done)}
    it: Iterable[int] = range(0, len(images), batch)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, total=-(-len(images) // batch), desc="indexing", unit="batch")
    for s in it:
        pix, ok = [], []
        for p in images[s:s + batch]:
            try:
                pix.append(load_image(p).pixels)
                ok.append(str(p))
            except RadlensError as exc:
                log.warning("skipping %s", exc.one_line())
                counts["skipped"] += 1
        if pix:
            _add(con, "image", ok, [None] * len(ok), model.embed_pixels(pix))
            counts["images"] += len(ok)
    for p in reports:
        text = report_text(p.read_text("utf-8", errors="replace"))
        parts = [text[a:b].strip() for a, b in split_sentences(text)] if sentences else [text]
        parts = [t for t in parts if t]
        counts["texts"] += add_texts(con, model, [str(p)] * len(parts), parts)
    con.close()
    return counts


class Index:
    """An opened index held in memory: (M, D) vectors plus their kinds, sources and texts."""

    def __init__(self, store: str | Path, model: VisionLanguageModel | None = None) -> None:
        con = open_store(store, model)
        rows = con.execute("SELECT id, kind, source, text, vector FROM items ORDER BY id")
        ids, kinds, sources, texts, blobs = [], [], [], [], []
        for r in rows:
            ids.append(r[0])
            kinds.append(r[1])
            sources.append(r[2])
            texts.append(r[3])
            blobs.append(r[4])
        con.close()
        if not blobs:
            raise DataError("the index is empty", store)
        self.vectors = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), -1)
        self.ids, self.sources, self.texts = ids, sources, texts
        self.kinds = np.array(kinds)

    def __len__(self) -> int:
        return len(self.ids)

    def search(self, query: np.ndarray, k: int = 10, kind: str | None = None) -> list[Hit]:
        """The `k` most similar items to a unit `query` vector, best first (kind filter)."""
        return [Hit(float(s), str(self.kinds[i]), self.sources[i], self.texts[i], self.ids[i])
                for i, s in top_k(self.vectors, query, k,
                                  None if kind is None else self.kinds == kind)]


def top_k(vectors: np.ndarray, query: np.ndarray, k: int,
          mask: np.ndarray | None = None) -> list[tuple[int, float]]:
    """Indices and scores of the `k` largest dot products (brute force), best first."""
    scores = vectors @ np.asarray(query, dtype=np.float32).reshape(-1)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    k = min(k, int(np.isfinite(scores).sum()))
    if k <= 0:
        return []
    part = np.argpartition(-scores, k - 1)[:k]
    order = part[np.argsort(-scores[part], kind="stable")]
    return [(int(i), float(scores[i])) for i in order]

"""``radlens ask`` and ``radlens ask --batch`` with a stand-in reader (no model needed)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from radlens.cli import ask as ask_cli
from radlens.cli.main import main
from radlens.schema import Answer, ReadFailure
from radlens.schema_json import from_dict
from tests.tasks.test_ask_answer import SICK


class _Reader:
    """Reads any existing path as the SICK reading; a missing one fails."""

    def __init__(self) -> None:
        self.read_paths: list[str] = []

    def _one(self, path: str) -> Any:
        self.read_paths.append(path)
        if not Path(path).is_file():
            return ReadFailure(path, "DecodeError", f"{path}: file not found",
                               reason="file not found")
        return SICK

    def read(self, x: str) -> Any:
        out = self._one(x)
        if isinstance(out, ReadFailure):
            from radlens.errors import DecodeError
            raise DecodeError("file not found", x)
        return out

    def iter_read(self, paths: Sequence[str]) -> Iterator[Any]:
        for p in paths:
            yield self._one(p)


@pytest.fixture()
def reader(monkeypatch: pytest.MonkeyPatch) -> _Reader:
    r = _Reader()
    monkeypatch.setattr(ask_cli, "_reader", lambda args: r)
    return r


def test_one_question_prints_answer_and_evidence(reader: _Reader, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / "a.png"
    image.write_bytes(b"x")
    assert main(["ask", str(image), "Is there a pleural effusion?"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "yes"
    assert "Pleural Effusion p=0.90 threshold 0.50 positive left lower" in out[1]


def test_json_output_is_an_answer(reader: _Reader, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / "a.png"
    image.write_bytes(b"x")
    assert main(["ask", str(image), "Is there a rib fracture?", "--json"]) == 0
    a = from_dict(json.loads(capsys.readouterr().out), Answer)
    assert not a.answered and a.answer.startswith("cannot answer: ")


def test_unreadable_image_is_an_error(reader: _Reader, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", str(tmp_path / "missing.png"), "Is it normal?"]) == 2
    assert "missing.png" in capsys.readouterr().err


def test_missing_arguments_are_refused(reader: _Reader,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask"]) == 2
    assert "QUESTION" in capsys.readouterr().err


def test_batch_answers_every_line_and_names_bad_ones(reader: _Reader, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    (tmp_path / "a.png").write_bytes(b"x")
    lines = [
        json.dumps({"image": "a.png", "question": "Is there a pleural effusion?"}),
        "{not json",
        json.dumps({"image": "missing.png", "question": "Is it normal?"}),
        json.dumps({"question": "no image"}),
        "",
        json.dumps({"image": "a.png", "question": "Where is the pleural effusion?"}),
        json.dumps(["a list"]),
    ]
    batch = tmp_path / "q.jsonl"
    batch.write_text("\n".join(lines) + "\n")
    assert main(["ask", "--batch", str(batch)]) == 1
    records = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["line"] for r in records] == [1, 2, 3, 4, 6, 7]
    assert records[0]["answer"] == "yes" and records[0]["answered"] is True
    assert records[0]["evidence"][0]["label"] == "Pleural Effusion"
    assert "line 2" in records[1]["error"]["message"]
    assert records[2]["error"]["type"] == "DecodeError"
    assert records[2]["image"].endswith("missing.png")
    assert "image" in records[3]["error"]["message"]
    assert records[4]["answer"] == "lower left lung"
    assert "object" in records[5]["error"]["message"]
    assert reader.read_paths.count(str(tmp_path / "a.png")) == 1  # each image read once


def test_batch_file_missing(reader: _Reader, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "--batch", str(tmp_path / "none.jsonl")]) == 2
    assert "none.jsonl" in capsys.readouterr().err

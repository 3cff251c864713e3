"""Reading refs/hyps files, joining by id, and the `score` / `compare` commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from radlens.cli.main import main
from radlens.errors import DataError, InputError
from radlens.metrics.io import join, read_texts

REFS_CSV = "id,text\n1,The lungs are clear.\n2,No pleural effusion.\n3,\"Heart size, normal.\"\n"
HYPS_JSONL = ('{"id": "1", "report": "Lungs are clear."}\n'
              '{"id": 2, "report": "Small pleural effusion."}\n'
              '{"id": "4", "report": "Extra."}\n')


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    refs = tmp_path / "refs.csv"
    hyps = tmp_path / "hyps.jsonl"
    refs.write_text(REFS_CSV, encoding="utf-8")
    hyps.write_text(HYPS_JSONL, encoding="utf-8")
    return refs, hyps


def test_read_and_join_reports_unmatched_ids(files: tuple[Path, Path]) -> None:
    refs = read_texts(files[0])
    hyps = read_texts(files[1], role="hyps")
    assert refs.texts[2] == "Heart size, normal."
    assert hyps.ids == ("1", "2", "4") and hyps.text_column == "report"
    pairs = join(refs, {"hyps": hyps})
    assert pairs.ids == ("1", "2")
    assert pairs.hyps["hyps"] == ("Lungs are clear.", "Small pleural effusion.")
    assert pairs.unmatched == {"in refs, not in hyps": ("3",), "in hyps, not in refs": ("4",)}
    assert not pairs.complete


@pytest.mark.parametrize(("content", "message"), [
    ("", "file is empty"),
    ("id,text\n1,a\n1,b\n", "line 3: id '1' repeats"),
    ("name,text\n1,a\n", "cannot find the id column"),
    ("id,words\n1,a\n", "cannot find the text column"),
    ("id,text\n", "no reports in file"),
    ('{"id": 1, "text": "a"}\n{"id": 2, "text": \n', "line 2: not valid JSON"),
    ('{"id": 1, "text": 5}\n', "must be a string"),
])
def test_bad_files_give_one_clear_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / ("bad.jsonl" if content.startswith("{") else "bad.csv")
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message) as info:
        read_texts(path)
    assert str(path) in str(info.value)


def test_missing_file_and_no_common_id(tmp_path: Path, files: tuple[Path, Path]) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_texts(tmp_path / "nope.csv")
    other = tmp_path / "other.csv"
    other.write_text("id,text\nx,a\n", encoding="utf-8")
    with pytest.raises(DataError, match="no report id is common"):
        join(read_texts(files[0]), {"hyps": read_texts(other)})


def test_cli_score_json(files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["score", "--refs", str(files[0]), "--hyps", str(files[1]), "--metrics",
                   "bleu,rouge,rexrank_bleu", "--n-boot", "50", "--json"])
    captured = capsys.readouterr()
    assert status == 0
    out = json.loads(captured.out)
    assert out["n_pairs"] == 2
    assert out["unmatched"]["in refs, not in hyps"] == {"count": 1, "ids": ["3"]}
    assert set(out["metrics"]) == {"bleu", "rouge", "rexrank_bleu"}
    rouge = out["metrics"]["rouge"]["aggregates"]["rougeL_f"]
    assert rouge["ci_low"] <= rouge["value"] <= rouge["ci_high"]
    assert "1 id(s) in refs, not in hyps" in captured.err


def test_cli_score_text_strict_and_per_pair(files: tuple[Path, Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    per_pair = tmp_path / "pairs.csv"
    assert main(["score", "--refs", str(files[0]), "--hyps", str(files[1]), "--metrics",
                 "rouge", "--per-pair", str(per_pair), "--n-boot", "0"]) == 0
    out = capsys.readouterr().out
    assert "2 pairs scored" in out and "rougeL_f" in out
    lines = per_pair.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "id,rouge.rougeL_p,rouge.rougeL_r,rouge.rougeL_f"
    assert lines[1].startswith("1,1.0,")
    assert main(["score", "--refs", str(files[0]), "--hyps", str(files[1]), "--strict"]) == 1
    assert "radlens: error: 1 id(s)" in capsys.readouterr().err


def test_cli_errors_are_one_line(files: tuple[Path, Path],
                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["score", "--refs", str(files[0]), "--hyps", "missing.csv"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "radlens: missing.csv: no such file"
    assert main(["score", "--refs", str(files[0]), "--hyps", str(files[1]),
                 "--metrics", "bleu,cider"]) == 2
    assert "unknown metric cider" in capsys.readouterr().err


def test_cli_compare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    both = tmp_path / "both.csv"
    rows = ["study_id,reference,good,bad"]
    for i in range(30):
        rows.append(f"s{i},no pleural effusion case {i} .,no pleural effusion case {i} .,"
                    f"heart is enlarged {i}")
    both.write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert main(["compare", "--refs", str(both), "--hyps-a", str(both), "--hyp-col-a", "good",
                 "--hyps-b", str(both), "--hyp-col-b", "bad", "--metrics", "rouge,bleu",
                 "--n-perm", "500", "--n-boot", "50", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    row = out["metrics"]["rouge"]["rougeL_f"]
    assert row["a"] == 1.0 and row["b"] < 0.3 and row["diff"] == pytest.approx(row["b"] - 1)
    assert row["p_value"] < 0.01
    assert out["metrics"]["bleu"]["bleu4"]["a_ci"] == [1.0, 1.0]

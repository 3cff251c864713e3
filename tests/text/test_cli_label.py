"""The ``radlens label`` command: formats, one row per input row, clear errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from radlens.cli.main import main


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_csv_to_csv_keeps_every_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.csv"
    src.write_text('id,report\na,"FINDINGS: No pneumothorax.\nIMPRESSION: Cardiomegaly."\n'
                   'b,\nc,Possible pneumonia.\n', encoding="utf-8")
    out = tmp_path / "out.csv"
    status = main(["label", str(src), "--id-column", "id", "-o", str(out)])
    assert status == 1  # row b is empty: warned, still written
    rows = _csv_rows(out)
    assert [r["id"] for r in rows] == ["a", "b", "c"]
    assert rows[0]["Cardiomegaly"] == "1" and rows[0]["Pneumothorax"] == "0"
    assert rows[1]["Cardiomegaly"] == "" and rows[2]["Pneumonia"] == "-1"
    err = capsys.readouterr().err
    assert "report b" in err and "empty" in err


def test_missing_column_is_one_line_error(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.csv"
    src.write_text("id,body\n1,text\n", encoding="utf-8")
    assert main(["label", str(src), "--column", "report"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("radlens: ") and str(src) in err and "\n" not in err


def test_folder_of_txt_and_non_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "r1.txt").write_text("Left pleural effusion.", encoding="utf-8")
    (folder / "r2.txt").write_bytes(b"Small pneumothorax \xff\xfe.")
    out = tmp_path / "out.jsonl"
    assert main(["label", str(folder), "-o", str(out)]) == 1
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [x["id"] for x in lines] == ["r1", "r2"]
    labels = dict((k, v) for k, v in lines[1]["labels"])
    assert labels["Pneumothorax"] == 1
    assert "UTF-8" in capsys.readouterr().err


def test_nih_format_and_explain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "x", "text": "Hiatal hernia. Nodule."}) + "\n" +
                   "not json\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    assert main(["label", str(src), "--vocab", "nih14", "-o", str(out), "--explain"]) == 1
    rows = _csv_rows(out)
    assert rows[0]["Finding Labels"] == "Nodule|Hernia" and rows[1]["Finding Labels"] == \
        "No Finding"
    shown = capsys.readouterr()
    assert '"hernia"' in shown.out.lower() and "rule:" in shown.out
    assert "not JSON" in shown.err


def test_iu_xml(shared_data: Path, tmp_path: Path) -> None:
    xml = shared_data / "iu-xray" / "reports" / "1.xml"
    if not xml.is_file():
        pytest.skip("IU report 1 absent")
    out = tmp_path / "o.csv"
    assert main(["label", str(xml), "-o", str(out)]) == 0
    row = _csv_rows(out)[0]
    assert row["id"] == "CXR1" and row["No Finding"] == "1" and row["Edema"] == "0"


def test_headerless_single_column_csv_is_chexpert_input(tmp_path: Path, shared_data: Path) -> None:
    import csv

    from radlens.text.readers import read_reports

    sample = shared_data / "samples" / "chexpert-labeler"
    rows = read_reports(sample / "sample_reports.csv")
    with (sample / "labeled_reports.csv").open(encoding="utf-8") as fh:
        expected = [r["Reports"] for r in csv.DictReader(fh)]
    assert [r.text for r in rows] == expected

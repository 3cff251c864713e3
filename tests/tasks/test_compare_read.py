"""`Reader.read(current, prior=...)`, `radlens read --prior` and the API's prior upload, on real
files: the bundled sample against itself, and the bad priors (another patient, a later date,
not a chest film). Needs the bundled models and pydicom-data (radlens[sample])."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest

from radlens.cli.main import main
from radlens.errors import InputError, QualityError
from radlens.reader import Reader
from radlens.schema import ChangeKind, WarningCode

pytest.importorskip("data_store", reason="needs radlens[sample] (pydicom-data)")


@pytest.fixture(scope="module")
def reader() -> Reader:
    return Reader()


@pytest.fixture(scope="module")
def sample() -> Path:
    from radlens.samples import sample_path

    return sample_path()


def _copy(sample: Path, target: Path, **tags: str) -> Path:
    ds = pydicom.dcmread(sample)
    for key, value in tags.items():
        setattr(ds, key, value)
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(target)
    return target


def test_sample_against_itself_is_unchanged(reader: Reader, sample: Path) -> None:
    out = reader.read(sample, prior=sample)
    assert len(out.comparison) == len(out.findings) > 0
    assert {c.change for c in out.comparison} == {ChangeKind.UNCHANGED}
    assert all(c.score == 0 for c in out.comparison)
    assert out.prior is not None and out.prior.study_date == "2004-08-26"
    assert out.prior.method == "lung-boxes"
    assert out.prior.alignment == (1.0, 1.0, 0.0, 0.0)
    assert WarningCode.PRIOR_SAME_FILM in {w.code for w in out.warnings}
    assert out.report is not None
    assert out.report.section_text("comparison").startswith(
        "Compared with the prior film of 2004-08-26:")
    plain = reader.read(sample)
    assert [c.current_probability for c in out.comparison] == pytest.approx(
        [f.probability for f in plain.findings], abs=1e-5)


def test_cli_prior_json(sample: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["read", str(sample), "--prior", str(sample), "--json"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert {c["change"] for c in record["comparison"]} == {"unchanged"}
    assert record["prior"]["source"] == str(sample)


def test_cli_prior_text(sample: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["read", str(sample), "--prior", str(sample)]) == 0
    out = capsys.readouterr().out
    assert "COMPARISON Compared with the prior film of 2004-08-26" in out
    assert "prior     " in out


def test_prior_of_another_patient_is_refused_unless_forced(reader: Reader, sample: Path,
                                                           tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]
                                                           ) -> None:
    other = _copy(sample, tmp_path / "other.dcm", PatientID="SOMEONE-ELSE")
    with pytest.raises(InputError) as err:
        reader.read(sample, prior=other)
    assert err.value.source == str(other) and "different patient" in err.value.reason
    assert "SOMEONE-ELSE" not in str(err.value)
    forced = reader.read(sample, prior=other, force=True)
    assert WarningCode.PRIOR_OTHER_PATIENT in {w.code for w in forced.warnings}
    assert main(["read", str(sample), "--prior", str(other)]) == 1
    captured = capsys.readouterr()
    assert f"radlens: {other}: the prior film is of a different patient" in captured.err
    assert "Traceback" not in captured.err
    assert main(["read", str(sample), "--prior", str(other), "--force", "--json"]) == 0


def test_prior_newer_than_current_is_refused(reader: Reader, sample: Path,
                                             tmp_path: Path) -> None:
    later = _copy(sample, tmp_path / "later.dcm", StudyDate="20100101")
    with pytest.raises(InputError) as err:
        reader.read(sample, prior=later)
    assert err.value.source == str(later) and "dated after" in err.value.reason
    out = reader.read(later, prior=sample)  # the right way round: about 5 years
    assert out.prior is not None and out.prior.offset_days is not None
    assert 1950 < out.prior.offset_days < 2000
    assert out.report is not None and "(" in out.report.section_text("comparison")


def test_prior_that_is_not_a_chest_film(reader: Reader, sample: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from radlens.samples import sample_path

    ct = sample_path("ct")
    with pytest.raises(QualityError) as err:
        reader.read(sample, prior=ct)
    assert err.value.source == str(ct)
    assert err.value.reason.startswith("the prior film: failed the input-quality check")
    assert err.value.issues
    assert main(["read", str(sample), "--prior", str(ct)]) == 1
    captured = capsys.readouterr()
    assert f"radlens: {ct}: the prior film:" in captured.err and "Traceback" not in captured.err


def test_missing_prior_and_bad_options(sample: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.dcm"
    assert main(["read", str(sample), "--prior", str(missing)]) == 1
    err = capsys.readouterr().err
    assert str(missing) in err and "the prior film" in err and "Traceback" not in err
    assert main(["read", str(sample), str(sample), "--prior", str(sample)]) == 2
    assert "one current film" in capsys.readouterr().err
    assert main(["read", str(sample), "--force"]) == 2
    assert "--prior" in capsys.readouterr().err


def test_a_list_with_a_prior_is_refused(reader: Reader, sample: Path) -> None:
    with pytest.raises(InputError):
        reader.read([sample, sample], prior=sample)  # type: ignore[call-overload]


def test_api_prior_upload(sample: Path, tmp_path: Path) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from radlens.serve.api import ServeConfig, create_app

    data = sample.read_bytes()
    other = _copy(sample, tmp_path / "other.dcm", PatientID="SOMEONE-ELSE").read_bytes()
    with TestClient(create_app(ServeConfig(max_upload_bytes=20_000_000))) as c:
        r = c.post("/v1/interpret", files={"file": ("a.dcm", data), "prior": ("b.dcm", data)})
        assert r.status_code == 200, r.text
        body = r.json()
        assert {x["change"] for x in body["comparison"]} == {"unchanged"}
        assert body["prior"]["source"] == "prior upload" and body["image"]["source"] == "upload"
        r = c.post("/v1/interpret", files={"file": ("a.dcm", data), "prior": ("b.dcm", other)})
        assert r.status_code == 400
        message = r.json()["error"]["message"]
        assert "different patient" in message and "/" not in message
        r = c.post("/v1/interpret", params={"force": "true"},
                   files={"file": ("a.dcm", data), "prior": ("b.dcm", other)})
        assert r.status_code == 200
        plain = c.post("/v1/interpret", files={"file": ("a.dcm", data)})
        assert plain.status_code == 200 and plain.json()["comparison"] == []


def _nih_pair(root: Path) -> Iterator[tuple[Path, Path]]:
    rows = list(csv.DictReader((root / "nih-cxr14" / "labels.csv").open(encoding="utf-8")))
    by: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        by[row["patient_id"]].append(row)
    for films in by.values():
        if len(films) > 1:
            films.sort(key=lambda r: int(r["follow_up"]))
            yield (root / "nih-cxr14" / "images" / films[0]["image"],
                   root / "nih-cxr14" / "images" / films[1]["image"])


def test_a_real_nih_follow_up_pair(reader: Reader, shared_data: Path) -> None:
    prior, current = next(_nih_pair(shared_data))
    out = reader.read(current, prior=prior, prior_offset_days=30)
    assert out.prior is not None and out.prior.offset_days == 30
    assert out.prior.method in ("lung-boxes", "lung-box")
    assert len(out.comparison) == len(out.findings)
    for c in out.comparison:
        assert c.change in set(ChangeKind)
        assert c.current_extent is None or 0 <= c.current_extent <= 1
    assert out.report is not None
    assert out.report.section_text("comparison").startswith(
        "Compared with the prior film of 30 days earlier:")
    with pytest.raises(InputError):
        reader.read(current, prior=prior, prior_offset_days=-30)

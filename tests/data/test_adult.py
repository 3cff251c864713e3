"""Adult adapters (NIH ChestX-ray14, TB, Hannover) and the label rules applied by harmonise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from radlens.data import adult, spec
from radlens.data.samples import harmonise
from radlens.errors import DataError


def _png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((20, 24), 100, np.uint8)).save(path)


def _nih(tmp_path: Path, rows: list[str]) -> Path:
    root = tmp_path / "nih"
    for r in rows:
        _png(root / "images" / r.split(",")[0])
    (root / "labels.csv").write_text(
        "image,finding_labels,patient_id,follow_up,age,sex,view\n" + "\n".join(rows) + "\n")
    return root


def _row(ds: object, sample: int) -> dict[str, tuple[float, bool]]:
    s = ds.samples[sample]  # type: ignore[attr-defined]
    return {n: (float(v), bool(m)) for n, v, m in
            zip(ds.label_names, s.labels, s.mask, strict=True)}  # type: ignore[attr-defined]


def test_nih_cxr14_derives_chexpert_names_and_leaves_tb_unknown(tmp_path: Path) -> None:
    root = _nih(tmp_path, ["a.png,Effusion|Nodule,7,0,77,M,AP", "b.png,No Finding,8,1,15,f,PA"])
    ds = spec.load(str(root))  # guessed from labels.csv columns
    assert ds.name == "nih-cxr14" and ds.label_names == adult.adult_labels()
    a = _row(ds, 0)
    assert a["Pleural Effusion"] == (1.0, True) and a["Lung Lesion"] == (1.0, True)
    assert a["Cardiomegaly"] == (0.0, True) and a["No Finding"] == (0.0, True)
    assert a["Tuberculosis"][1] is False  # NIH never looks at TB
    assert ds.samples[0].patient_id == "nih-cxr14:7"
    assert ds.samples[0].meta["sex"] == "M" and ds.samples[0].meta["population"] == "adult"
    assert ds.samples[1].meta["sex"] == "F" and ds.samples[1].meta["population"] == "paediatric"
    # a No Finding film becomes negative for TB too once harmonised
    h = harmonise([ds], ["Tuberculosis", "Pleural Effusion"])
    assert h.samples[1].mask.all() and h.samples[1].labels.sum() == 0
    assert not h.samples[0].mask[0]


def test_nih_cxr14_unknown_finding_names_the_file_and_line(tmp_path: Path) -> None:
    root = _nih(tmp_path, ["a.png,Effusion|Unicorn,7,0,77,M,AP"])
    with pytest.raises(DataError, match="line 2: unknown finding name") as err:
        spec.load(f"nih-cxr14:{root}")
    assert err.value.source == str(root / "labels.csv")


def test_nih_cxr14_missing_image_is_counted(tmp_path: Path) -> None:
    root = _nih(tmp_path, ["a.png,Mass,7,0,50,M,PA"])
    with (root / "labels.csv").open("a") as fh:
        fh.write("gone.png,Mass,9,0,50,M,PA\n")
    ds = spec.load(str(root))
    assert len(ds) == 1 and ds.skipped == ((str(root / "images" / "gone.png"),
                                            "image file missing"),)


def test_tb_cxr_normal_is_negative_everywhere_tb_positive_is_not(tmp_path: Path) -> None:
    root = tmp_path / "tb"
    for n in ("n1.png", "t1.png"):
        _png(root / "images" / n)
    (root / "labels.csv").write_text("image,source,tuberculosis,patient_id\n"
                                     "n1.png,shenzhen,0,shenzhen:n1\n"
                                     "t1.png,montgomery,1,montgomery:t1\n")
    ds = spec.load(str(root))
    assert ds.name == "tb-cxr"
    assert [s.source for s in ds.samples] == ["tb-cxr/shenzhen", "tb-cxr/montgomery"]
    h = harmonise([ds], ["Tuberculosis", "Cardiomegaly", "Pneumonia"])
    normal, tb = h.samples
    assert normal.mask.all() and normal.labels.sum() == 0
    assert tb.labels[0] == 1 and tb.mask.tolist() == [True, False, False]


def test_tb_cxr_bad_flag(tmp_path: Path) -> None:
    root = tmp_path / "tb"
    _png(root / "images" / "x.png")
    (root / "labels.csv").write_text("image,source,tuberculosis,patient_id\nx.png,s,maybe,p\n")
    with pytest.raises(DataError, match="tuberculosis = 'maybe'"):
        spec.load(f"tb-cxr:{root}")


def test_hannover_pneumonia_implies_lung_opacity(tmp_path: Path) -> None:
    root = tmp_path / "han"
    _png(root / "images" / "a.jpg")
    (root / "metadata.csv").write_text("image,patient_id,sex,age,admission_offset,projection\n"
                                       "a.jpg,p1,m,,3,ap\n")
    ds = spec.load(str(root))
    assert ds.name == "hannover" and ds.samples[0].meta["view"] == "AP"
    h = harmonise([ds], ["Pneumonia", "Lung Opacity", "Edema"])
    s = h.samples[0]
    assert s.labels.tolist() == [1, 1, 0] and s.mask.tolist() == [True, True, False]
    raw = harmonise([ds], ["Pneumonia", "Lung Opacity"], infer=False)
    assert raw.samples[0].mask.tolist() == [True, False]


@pytest.mark.parametrize(("text", "years"), [("45", "45"), ("45.0", "45"), ("077Y", "77"),
                                             ("", ""), ("abc", ""), ("130", "")])
def test_norm_age(text: str, years: str) -> None:
    assert adult.norm_age(text) == years


def test_shared_adult_sets(shared_data: Path) -> None:
    nih = spec.load(str(shared_data / "nih-cxr14"))
    tb = spec.load(str(shared_data / "tb-cxr"))
    han = spec.load(str(shared_data / "covid-hannover"))
    assert (len(nih), len(tb), len(han)) == (1169, 346, 207)
    assert len(nih.patients()) == 921 and len(han.patients()) == 53
    assert {s.source for s in tb.samples} == {"tb-cxr/shenzhen", "tb-cxr/montgomery",
                                               "tb-cxr/da-db"}
    h = harmonise([nih, tb, han], adult.adult_labels())
    col = h.label_names.index("Tuberculosis")
    tb_known = np.array([s.mask[col] for s in h.samples])
    assert tb_known.sum() == 346 + 453  # tb-cxr films and NIH No Finding films

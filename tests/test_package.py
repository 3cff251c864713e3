"""The package face: `radlens.__all__` / `dir(radlens)` list the public API; short reprs."""

from __future__ import annotations

import subprocess
import sys
import uuid

import numpy as np

import radlens
from radlens.schema import Image, ImageMeta, Region, RegionKind


def test_dir_is_the_public_api() -> None:
    names = dir(radlens)
    assert names == sorted(radlens.__all__)
    for private in ("annotations", "importlib", "Any", "_LAZY"):
        assert private not in names
    for name in ("Reader", "read", "to_records", "to_dataframe", "load_image", "check",
                 "label", "ground", "to_image", "Image", "Interpretation", "ReadFailure"):
        assert name in names
        assert getattr(radlens, name) is not None


def test_import_stays_light() -> None:
    code = "import sys, radlens; print('torch' in sys.modules, 'radlens.reader' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]


def test_arrays_have_short_reprs() -> None:
    region = Region(id=uuid.uuid4().hex, kind=RegionKind.LUNG, label="right lung",
                    mask=np.zeros((512, 400), dtype=bool),
                    heatmap=np.zeros((64, 64), dtype=np.float32))
    text = repr(region)
    assert "mask=array(shape=(512, 400), dtype=bool)" in text
    assert "heatmap=array(shape=(64, 64), dtype=float32)" in text
    assert "False" not in text and len(text) < 300
    image = Image(np.zeros((2000, 1800), np.float32), ImageMeta("x.png", "png", 1800, 2000))
    assert "pixels=array(shape=(2000, 1800), dtype=float32)" in repr(image)
    assert len(repr(image)) < 500


def test_lung_result_repr_is_short() -> None:
    from radlens.tasks.segment import lungs_from_masks

    right = np.zeros((300, 300), bool)
    left = np.zeros((300, 300), bool)
    right[50:250, 40:130] = True
    left[50:250, 170:260] = True
    text = repr(lungs_from_masks(right, left))
    assert "array(shape=(300, 300), dtype=bool)" in text and "True" not in text.split(
        "status")[0]
    assert len(text) < 2000


def test_no_package_imports_the_command_line() -> None:
    """Library code never imports `radlens.cli` (the VLM helpers moved into cli/)."""
    import ast
    from pathlib import Path

    root = Path(radlens.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root)
        if rel.parts[0] in ("cli", "__main__.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{rel}: {n}" for n in names if n.startswith("radlens.cli")]
    assert offenders == []


def test_loaded_models_have_short_reprs() -> None:
    import pytest

    from radlens.models import registry

    name = registry.default_model("classify")
    if name is None:
        pytest.skip("no bundled classifier")
    text = repr(registry.load(name))
    assert text.startswith(f"LoadedModel(name={name!r}") and len(text) < 300
    from radlens.models.segmenter import load_segmenter

    if registry.default_model("segment") is not None:
        assert len(repr(load_segmenter())) < 300

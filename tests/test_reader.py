"""`radlens.Reader`: arrays and lists in, batched reading equal to one-by-one, `predict`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import radlens
from radlens.errors import InputError, QualityError
from radlens.models import registry
from radlens.reader import Reader, to_image
from radlens.schema import Interpretation, ReadFailure
from radlens.tasks.classify import classify

needs_model = pytest.mark.skipif(registry.default_model("classify") is None,
                                 reason="no bundled classifier")


def _png(path: Path, pixels: np.ndarray) -> Path:
    from PIL import Image as PILImage

    PILImage.fromarray(np.round(pixels * 255).astype(np.uint8)).save(path)
    return path


# -- the array convention --------------------------------------------------------------------
def test_array_conventions(chest_like: np.ndarray) -> None:
    as_float = to_image(chest_like)
    assert as_float.pixels.dtype == np.float32 and as_float.meta.format == "array"
    np.testing.assert_allclose(as_float.pixels, chest_like, atol=1e-6)
    u8 = to_image(np.array([[0, 255], [51, 102]], dtype=np.uint8))
    np.testing.assert_allclose(u8.pixels, np.array([[0, 1], [0.2, 0.4]]), atol=1e-6)
    u16 = to_image(np.array([[0, 65535]], dtype=np.uint16))
    np.testing.assert_allclose(u16.pixels, np.array([[0.0, 1.0]]))
    assert to_image(chest_like, source="scan 7").meta.source == "scan 7"


@pytest.mark.parametrize("array, words", [
    (np.zeros((8, 8, 3)), "2-D"),
    (np.zeros((1, 8, 8)), "a[0]"),
    (np.zeros(8), "2-D"),
    (np.zeros((0, 8)), "empty"),
    (np.zeros((8, 8), dtype=np.int32), "dtype int32"),
    (np.zeros((8, 8), dtype=bool), "dtype bool"),
    (np.full((8, 8), np.nan), "NaN"),
    (np.linspace(-2, 2, 64).reshape(8, 8), "[0, 1]"),
])
def test_bad_arrays_say_what_was_expected(array: np.ndarray, words: str) -> None:
    with pytest.raises(InputError, match=r"(?s).*" + words.replace("[", r"\[")) as info:
        to_image(array, source="mine")
    assert info.value.source == "mine"


def test_other_types_are_input_errors() -> None:
    with pytest.raises(InputError, match=r"expected a file path, a radlens\.Image"):
        to_image(42)  # type: ignore[arg-type]


# -- reading -----------------------------------------------------------------------------------
@needs_model
def test_list_batched_equals_one_by_one(tmp_path: Path, chest_like: np.ndarray) -> None:
    rng = np.random.default_rng(1)
    films = [np.clip(chest_like + rng.normal(0, 0.03, chest_like.shape), 0, 1)
             for _ in range(3)]
    png = _png(tmp_path / "film.png", films[2])
    inputs: list[radlens.reader.Input] = [films[0], tmp_path / "missing.png", films[1],
                                          np.full((300, 300), 0.5), str(png)]
    reader = Reader(batch_size=2, workers=1)
    out = reader.read(inputs)
    assert len(out) == 5
    assert [type(o) for o in out] == [Interpretation, ReadFailure, Interpretation,
                                      ReadFailure, Interpretation]
    missing, constant = out[1], out[3]
    assert isinstance(missing, ReadFailure) and missing.source.endswith("missing.png")
    assert missing.error_type == "InputError" and "missing.png" in missing.message
    assert isinstance(constant, ReadFailure) and constant.error_type == "QualityError"
    assert constant.source == "<array 3>" and "constant_image" in {i.code for i in
                                                                   constant.issues}
    assert out[4].image.source == str(png)  # type: ignore[union-attr]
    one_by_one = [radlens.read(films[0]), radlens.read(films[1]), radlens.read(str(png))]
    for got, want in zip([out[0], out[2], out[4]], one_by_one, strict=True):
        assert isinstance(got, Interpretation)
        assert [f.label for f in got.findings] == [f.label for f in want.findings]
        np.testing.assert_allclose([f.probability for f in got.findings],
                                   [f.probability for f in want.findings], atol=1e-5)
        assert [f.call for f in got.findings] == [f.call for f in want.findings]
        assert [f.location for f in got.findings] == [f.location for f in want.findings]
        assert [(r.kind, r.label, r.box) for r in got.regions] == \
            [(r.kind, r.label, r.box) for r in want.regions]
        assert [w.code for w in got.warnings] == [w.code for w in want.warnings]
        assert got.report is not None and want.report is not None
        assert [s.text for s in got.report.sentences] == [s.text for s in want.report.sentences]


@needs_model
def test_batched_classify_matches_single_classify(chest_like: np.ndarray) -> None:
    image = to_image(chest_like)
    (got,) = Reader(explain=True, report=False, workers=0).read([image])
    want = classify(image)
    assert isinstance(got, Interpretation)
    np.testing.assert_allclose([f.probability for f in got.findings],
                               [f.probability for f in want.findings], atol=1e-5)
    for region in want.regions:  # Grad-CAM from the shared feature map: same heatmaps
        twin = next(r for r in got.regions if r.label == region.label and r.heatmap is not None)
        assert region.heatmap is not None and twin.heatmap is not None
        np.testing.assert_allclose(twin.heatmap, region.heatmap, atol=1e-4)


@needs_model
def test_single_input_raises_and_read_accepts_arrays(chest_like: np.ndarray) -> None:
    assert isinstance(radlens.read(chest_like), Interpretation)
    with pytest.raises(QualityError) as info:
        radlens.read(np.full((300, 300), 0.5))
    assert info.value.issues
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        radlens.read(chest_like * 255.0)
    listed = radlens.read([chest_like])
    assert isinstance(listed, list) and isinstance(listed[0], Interpretation)


@needs_model
def test_progress_bar_shows_images_per_second(chest_like: np.ndarray,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    Reader(explain=False, report=False).read([chest_like, chest_like], progress=True)
    assert "img/s" in capsys.readouterr().err


# -- predict -----------------------------------------------------------------------------------
@needs_model
def test_predict_is_the_calibrated_network(chest_like: np.ndarray) -> None:
    from radlens.models.classifier import preprocess

    reader = Reader()
    x = torch.cat([preprocess(chest_like, reader.size), preprocess(chest_like.T, reader.size)])
    probs = reader.predict(x)
    assert probs.shape == (2, len(reader.labels)) and probs.dtype == torch.float32
    loaded = reader.classifier
    assert loaded is not None
    with torch.no_grad():
        want = torch.sigmoid(loaded.network(x) / torch.from_numpy(loaded.temperatures))
    torch.testing.assert_close(probs, want)
    single = classify(to_image(chest_like), explain=False)
    np.testing.assert_allclose(probs[0].numpy(), [f.probability for f in single.findings],
                               atol=1e-5)
    assert reader.predict(x.numpy()).shape == probs.shape
    assert reader.predict(x[:0]).shape == (0, len(reader.labels))


@needs_model
def test_predict_refuses_what_does_not_fit() -> None:
    reader = Reader()
    s = reader.size
    with pytest.raises(InputError, match=rf"\(N, 1, {s}, {s}\)"):
        reader.predict(torch.rand(2, 3, s, s))
    with pytest.raises(InputError, match=rf"\(N, 1, {s}, {s}\)"):
        reader.predict(torch.rand(2, 1, s + 1, s))
    with pytest.raises(InputError, match="normalises inside"):
        reader.predict((torch.rand(2, 1, s, s) - 0.5) / 0.25)  # ImageNet-style input
    with pytest.raises(InputError, match="dtype"):
        reader.predict(torch.zeros(2, 1, s, s, dtype=torch.uint8))


def test_reader_refuses_bad_settings() -> None:
    with pytest.raises(InputError, match="batch_size"):
        Reader(batch_size=0)
    with pytest.raises(InputError, match="device"):
        Reader(device="no-such-device")


@needs_model
def test_a_decoder_bug_fails_one_input_not_the_list(chest_like: np.ndarray,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import radlens.reader as reader_module

    real = reader_module.to_image

    def flaky(x: radlens.reader.Input, source: str | None = None) -> radlens.Image:
        if isinstance(x, str) and x == "boom.png":
            raise RuntimeError("decoder exploded")
        return real(x, source)

    monkeypatch.setattr(reader_module, "to_image", flaky)
    out = Reader(explain=False, report=False).read([chest_like, "boom.png", chest_like])
    assert isinstance(out[0], Interpretation) and isinstance(out[2], Interpretation)
    bad = out[1]
    assert isinstance(bad, ReadFailure) and bad.error_type == "InternalError"
    assert bad.message.startswith("boom.png: internal error (RuntimeError: decoder exploded)")
    with pytest.raises(RuntimeError):
        Reader(explain=False, report=False).read("boom.png")

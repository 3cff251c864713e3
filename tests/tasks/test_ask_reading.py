"""`Reader.ask` end to end on the bundled sample radiograph (real models), and its list forms."""

from __future__ import annotations

from pathlib import Path

import pytest

from radlens.errors import RadlensError
from radlens.models import registry
from radlens.reader import Reader
from radlens.schema import Answer, Interpretation, ReadFailure

pytestmark = pytest.mark.skipif(registry.default_model("classify") is None,
                                reason="no bundled classifier")


@pytest.fixture(scope="module")
def sample() -> Path:
    from radlens.samples import sample_path

    try:
        return sample_path("chest-cr")
    except RadlensError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def reading(sample: Path) -> tuple[Reader, Interpretation]:
    reader = Reader(report=False)
    return reader, reader.read(sample)


def test_sample_end_to_end(sample: Path, reading: tuple[Reader, Interpretation]) -> None:
    reader, interp = reading
    a = reader.ask(sample, "What modality is used to take this image?")
    assert isinstance(a, Answer) and a.answered and a.answer == "x-ray"
    assert a.evidence[0].field == "modality" and a.evidence[0].value == "CR"
    many = reader.ask(interp, ["Is this a PA film?", "How many lungs are shown in this image?",
                               "Is there a pleural effusion?",
                               "Is the liver enlarged on this CT?"])
    assert [x.answer for x in many[:2]] == ["yes", "2"]
    effusion = interp.finding("Pleural Effusion")
    assert effusion is not None
    assert many[2].evidence[0].label == "Pleural Effusion"
    assert many[2].evidence[0].probability == round(effusion.probability, 4)
    assert many[2].answer in ("yes", "no") or many[2].answer.startswith("cannot answer: ")
    assert not many[3].answered and "CT" in many[3].answer
    assert all(x.interpretation_id == interp.id for x in many)


def test_list_of_inputs_gives_a_failure_for_the_bad_one(
        sample: Path, tmp_path: Path, reading: tuple[Reader, Interpretation]) -> None:
    reader, interp = reading
    out = reader.ask([interp, str(tmp_path / "missing.png")], "Is this image normal?")
    assert isinstance(out[0], Answer) and isinstance(out[1], ReadFailure)
    assert "missing.png" in out[1].source
    with pytest.raises(RadlensError):
        reader.ask([interp, interp], ["one question"])

"""Questions about inputs through a `radlens.Reader` (what `Reader.ask` runs).

One input (path, `Image`, array, or an `Interpretation` already made) and one question ->
one `Answer`; one input and a list of questions -> a list of `Answer`s (one reading); a list
of inputs with one question each (or the same question for all) -> a list with an `Answer`
or a `ReadFailure` per input, in order, read in batches. Answering costs well under a
millisecond per question beyond the reading (``benchmarks/vqa_eval.py`` measures it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from radlens.errors import InputError
from radlens.schema import Answer, Interpretation, ReadFailure
from radlens.tasks.ask.answer import answer

if TYPE_CHECKING:
    from radlens.reader import Input, Reader


def _is_list(x: object) -> bool:
    return isinstance(x, Sequence) and not isinstance(x, (str, bytes))


def ask_one(reader: Reader, x: Input | Interpretation, question: str | Sequence[str]
            ) -> Answer | list[Answer]:
    """Read `x` once (unless it is an `Interpretation`) and answer `question` (a string ->
    an `Answer`; a list of strings -> a list). Reading errors are raised as `Reader.read`
    raises them."""
    interp = x if isinstance(x, Interpretation) else reader.read(x)
    if isinstance(question, str):
        return answer(interp, question)
    return [answer(interp, q) for q in question]


def ask_many(reader: Reader, inputs: Sequence[Input | Interpretation],
             questions: str | Sequence[str], *, progress: bool = False
             ) -> list[Answer | ReadFailure]:
    """One answer per input: `questions` is one question for every input or a list of the
    same length. An input that cannot be read gives its `ReadFailure`; the others go on.
    Raises `InputError` when the lengths differ."""
    qs = [questions] * len(inputs) if isinstance(questions, str) else list(questions)
    if len(qs) != len(inputs):
        raise InputError(f"{len(qs)} questions for {len(inputs)} inputs; give one question "
                         "for all or one per input")
    todo = [i for i, x in enumerate(inputs) if not isinstance(x, Interpretation)]
    readings: dict[int, Interpretation | ReadFailure] = {
        i: x for i, x in enumerate(inputs) if isinstance(x, Interpretation)}
    if todo:
        got = reader.read([inputs[i] for i in todo], progress=progress)  # type: ignore[misc]
        readings.update(zip(todo, got, strict=True))
    out: list[Answer | ReadFailure] = []
    for i, q in enumerate(qs):
        r = readings[i]
        out.append(r if isinstance(r, ReadFailure) else answer(r, q))
    return out


def ask(reader: Reader, x: Input | Interpretation | Sequence[Input | Interpretation],
        question: str | Sequence[str], *, progress: bool = False
        ) -> Answer | list[Answer] | list[Answer | ReadFailure]:
    """`Reader.ask`: `ask_one` for one input, `ask_many` for a list of inputs."""
    if _is_list(x):
        return ask_many(reader, x, question, progress=progress)  # type: ignore[arg-type]
    return ask_one(reader, x, question)  # type: ignore[arg-type]

"""`Reader`: models loaded once, many inputs read in batches -> `Interpretation`s.

The only way from inputs to readings: `radlens.read`, the CLI and batch runs go through it.

    reader = radlens.Reader()                  # loads the bundled classifier (and segmenter)
    interp = reader.read("chest.dcm")          # one Interpretation
    many = reader.read(["a.png", array, img])  # a list: Interpretation or ReadFailure each
    probs = reader.predict(batch)              # (N, 1, S, S) tensor -> (N, labels) tensor

Inputs (`to_image`):

- a path (str or `os.PathLike`) to any file `radlens.load_image` reads;
- a `radlens.Image` (pixels float32 (H, W) in [0, 1], air dark);
- a 2-D numpy array (rows, columns), grey, in one of these pixel conventions
  (air dark, bone bright; the whole range is the display range, no window is applied):
  floating point (float16/32/64) with values in [0, 1]; ``uint8`` (0..255 -> [0, 1]);
  ``uint16`` (0..65535 -> [0, 1]: scale data with fewer bits yourself, e.g. 12-bit
  ``a / 4095.0``). Any other dtype, rank or range (e.g. ImageNet-normalised floats, NaN)
  raises `radlens.errors.InputError` saying what was expected.

Reading a list runs in steps that overlap: a prefetch thread pool decodes and quality-checks
the next images while the current batch is classified (one backbone pass over the batch for
probabilities and Grad-CAM, `radlens.tasks.batched`), its lungs segmented (one pass over the
batch) and each finding grounded and reported. An input that cannot be read gives a
`ReadFailure` naming it; the others are read.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from radlens._version import __version__
from radlens.errors import InputError, ModelError, QualityError, RadlensError
from radlens.schema import (
    Finding,
    Image,
    Interpretation,
    ModelInfo,
    QCIssue,
    QCReport,
    ReadFailure,
    Region,
    RegionKind,
)

if TYPE_CHECKING:
    import torch

    from radlens.models.registry import LoadedModel

log = logging.getLogger(__name__)

NO_MODEL_NOTE = ("no finding model is installed: this result holds the image metadata and the "
                 "quality checks only")

#: What `to_image` and `Reader.read` accept for one input.
Input = str | os.PathLike[str] | Image | np.ndarray
#: Several inputs (a list, tuple, ... of `Input`; not a str): one result per item.
Inputs = Sequence[Input]
_FLOAT_SLACK = 1e-3  # float input may overshoot [0, 1] by rounding this much (then clipped)


def to_image(x: Input, source: str | None = None) -> Image:
    """One input as an `Image` (pixels float32 (H, W) in [0, 1], air dark).

    `x`: a path (decoded by `radlens.load_image`), an `Image` (returned as is) or a 2-D numpy
    array in the convention of the module docstring (float in [0, 1], uint8 or uint16 full
    range). `source`: the name results give for an array input (default ``"<array>"``).
    Raises `InputError` for an array of the wrong dtype, rank or range, or an input of
    another type; the `load_image` errors for a path that cannot be read.
    """
    if isinstance(x, Image):
        return x
    if isinstance(x, (str, os.PathLike)):
        from radlens.io import load_image

        return load_image(x)
    if isinstance(x, np.ndarray):
        return _from_array(x, source or "<array>")
    raise InputError(f"expected a file path, a radlens.Image or a 2-D numpy array, got "
                     f"{type(x).__name__}", source or repr(x)[:60])


def _from_array(a: np.ndarray, source: str) -> Image:
    from radlens.io import image_from_array

    if a.ndim != 2:
        hint = (" (a single-channel image: pass a[..., 0] or a[0])"
                if a.ndim == 3 and 1 in (a.shape[0], a.shape[-1]) else "")
        raise InputError(f"expected a 2-D (rows, columns) grey array, got shape "
                         f"{a.shape}{hint}", source)
    if min(a.shape) == 0:
        raise InputError(f"the array is empty (shape {a.shape})", source)
    if a.dtype == np.uint8:
        pixels = a.astype(np.float32) / 255.0
    elif a.dtype == np.uint16:
        pixels = a.astype(np.float32) / 65535.0
    elif np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise InputError("the array holds NaN or infinite values; expected finite "
                             "values in [0, 1]", source)
        lo, hi = float(a.min()), float(a.max())
        if lo < -_FLOAT_SLACK or hi > 1 + _FLOAT_SLACK:
            raise InputError(f"float pixels must lie in [0, 1] (air dark), got "
                             f"{lo:.4g}..{hi:.4g}; rescale, e.g. (a - a.min()) / "
                             "(a.max() - a.min())", source)
        pixels = a
    else:
        raise InputError(f"unsupported array dtype {a.dtype}; expected float in [0, 1], "
                         "uint8 or uint16", source)
    return image_from_array(pixels, source)


def _source_of(x: object, index: int) -> str:
    if isinstance(x, (str, os.PathLike)):
        return os.fspath(x)
    if isinstance(x, Image):
        return x.meta.source
    return f"<array {index}>" if isinstance(x, np.ndarray) else f"<input {index}>"


def failure(source: str, exc: RadlensError) -> ReadFailure:
    """The `ReadFailure` for an input whose reading raised `exc`."""
    issues = tuple(i for i in getattr(exc, "issues", ()) or () if isinstance(i, QCIssue))
    return ReadFailure(source=exc.source or source, error_type=type(exc).__name__,
                       message=exc.one_line(), issues=issues, reason=exc.reason)


@cache
def card_population(model: str) -> dict[str, Any] | None:
    """The ``population`` block of a classifier's card, or None (no card, or an older one)."""
    try:
        from radlens.models.registry import find_card

        found = find_card(model).get("population")
    except (RadlensError, ImportError, OSError, ValueError, KeyError):
        return None
    return dict(found) if isinstance(found, dict) else None


def population_of(image: Image, model: str, age: float | None) -> str | None:
    """"paediatric" below the card's adult age (default 18), "adult" at or above it, None when
    the age is unknown (the calls then use the adult thresholds)."""
    from radlens.tasks.guardrails import patient_age, read_header

    years, _ = patient_age(image.meta, read_header(image.meta), age)
    if years is None:
        return None
    block = card_population(model) or {}
    return "paediatric" if years < float(block.get("age_min", 18)) else "adult"


@dataclasses.dataclass
class _Item:
    """One input in flight: its index and name, then the image and QC (or the failure)."""

    index: int
    source: str
    image: Image | None = None
    qc: QCReport | None = None
    failed: ReadFailure | None = None
    error: Exception | None = None


class Reader:
    """Reads chest radiographs with models loaded once; see the module docstring.

    `model`: the finding classifier (a bundled name, a card path or a run folder; default:
    the bundled default; none installed -> readings hold metadata and QC only, with a note).
    `device`: torch device for the networks ("cpu" default; e.g. "cuda"); the Reader runs
    channels-last copies of the bundled networks there (faster; the cached originals are
    never moved). `explain`: Grad-CAM for positive findings, lung segmentation and grounding
    in the six zones. `report`: write the grounded draft report;
    `indication` and `style` shape its wording (see `radlens.report`). `age`: the patient's
    age in years for every input (overrides DICOM headers). `batch_size`: images per
    classifier / segmenter pass. `workers`: prefetch threads that decode and check the next
    inputs while a batch is interpreted (0: decode in the calling thread).
    Raises `ModelError` when `model` is given but unknown or its weights do not match.
    """

    def __init__(self, model: str | None = None, device: str = "cpu", explain: bool = True,
                 *, report: bool = True, indication: str | None = None,
                 style: str | os.PathLike[str] | None = None, age: float | None = None,
                 batch_size: int = 16, workers: int = 1) -> None:
        import torch

        if batch_size < 1:
            raise InputError(f"batch_size must be at least 1, got {batch_size}")
        if workers < 0:
            raise InputError(f"workers must be 0 or more, got {workers}")
        try:
            self.device = torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise InputError(f"unknown torch device {device!r} ({exc})") from exc
        self.explain, self.report = explain, report
        self.indication, self.style, self.age = indication, style, age
        self.batch_size, self.workers = batch_size, workers
        self._ref = model  # what the caller named (a card path keeps its population block)
        self.classifier: LoadedModel | None = None
        if importlib.util.find_spec("radlens.tasks.classify") is not None:
            from radlens.models import registry

            name = model or registry.default_model("classify")
            if name is not None:
                self.classifier = registry.load(name)
        self._net: Any = None
        if self.classifier is not None:
            from radlens.models.classifier import on_device

            self._net = on_device(self.classifier.network, self.device, channels_last=True)
        self._segmenter: bool | None = None  # resolved on first use

    # -- what the model expects ---------------------------------------------------------------
    @property
    def labels(self) -> tuple[str, ...]:
        """The classifier's labels, in the order of `predict`'s columns (() without one)."""
        return self.classifier.labels if self.classifier is not None else ()

    @property
    def size(self) -> int:
        """The classifier's square input side in pixels (`predict`'s H and W)."""
        return self._need_classifier().size

    def _need_classifier(self) -> LoadedModel:
        if self.classifier is None:
            raise ModelError("no classifier is installed (radlens/weights has no model card)")
        return self.classifier

    def __repr__(self) -> str:
        name = self.classifier.info.name if self.classifier is not None else None
        return (f"Reader(model={name!r}, device={str(self.device)!r}, explain={self.explain}, "
                f"labels={len(self.labels)}, batch_size={self.batch_size})")

    # -- batch tensor in, probabilities out ----------------------------------------------------
    def predict(self, batch: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Calibrated probabilities (N, L) float32 (CPU tensor, columns = `labels`).

        `batch`: (N, 1, S, S) float, already in the model's input convention: grey, air dark,
        values in [0, 1], each image resized whole to S = `size` pixels
        (`radlens.models.classifier.preprocess`); a numpy array is accepted too. No quality
        checks, no population-specific thresholds: the raw calibrated model, like
        torchxrayvision's ``model(x)``. Raises `InputError` when the shape, dtype or range
        does not fit (e.g. ImageNet-normalised input).
        """
        import torch

        loaded = self._need_classifier()
        x = torch.from_numpy(batch) if isinstance(batch, np.ndarray) else batch
        if not isinstance(x, torch.Tensor):
            raise InputError(f"expected a torch tensor or numpy array, got "
                             f"{type(batch).__name__}", "predict")
        size = loaded.size
        if x.ndim != 4 or x.shape[1] != 1 or tuple(x.shape[2:]) != (size, size):
            raise InputError(f"expected a batch of shape (N, 1, {size}, {size}), got "
                             f"{tuple(x.shape)}", "predict")
        if not x.is_floating_point():
            raise InputError(f"expected float pixels in [0, 1], got dtype {x.dtype}", "predict")
        if x.shape[0] == 0:
            return torch.zeros((0, len(loaded.labels)), dtype=torch.float32)
        lo, hi = float(x.min()), float(x.max())
        if lo < -_FLOAT_SLACK or hi > 1 + _FLOAT_SLACK:
            raise InputError(f"pixels must lie in [0, 1] (air dark), got {lo:.4g}..{hi:.4g}; "
                             "radlens normalises inside the model", "predict")
        from radlens.models.classifier import micro_batches, to_channels_last

        x = to_channels_last(x.to(self.device, torch.float32))
        with torch.no_grad():  # small passes on a CPU: faster there (cache-bound)
            logits = torch.cat([self._net(part).float().cpu() for part in micro_batches(x)])
        return torch.sigmoid(logits / torch.from_numpy(loaded.temperatures))

    # -- inputs in, readings out ---------------------------------------------------------------
    @overload
    def read(self, x: Input, *, progress: bool = False,  # type: ignore[overload-overlap]
             prior: Input | None = None, force: bool = False,
             prior_offset_days: float | None = None) -> Interpretation: ...

    @overload
    def read(self, x: Inputs, *, progress: bool = False
             ) -> list[Interpretation | ReadFailure]: ...

    def read(self, x: Input | Inputs, *, progress: bool = False, prior: Input | None = None,
             force: bool = False, prior_offset_days: float | None = None
             ) -> Interpretation | list[Interpretation | ReadFailure]:
        """Read one input -> `Interpretation`, or a list (tuple, ...) of inputs -> a list, in
        order.

        One input: errors are raised (`QualityError` with ``.issues`` when a fatal QC check
        fails, `InputError` for a bad array, the `load_image` errors for bad files). A list:
        an input that cannot be read becomes a `ReadFailure` naming it, and the others are
        read (an unexpected error while decoding one input is logged and gives a failure of
        type "InternalError"). `progress`: a progress bar on stderr (images/s, ETA) for a list.

        `prior` (one input only): the patient's earlier film; both are read in one batch and
        the result's ``comparison`` holds every finding's change since it (``prior`` names
        it), the report a COMPARISON section (`radlens.tasks.compare`). A prior of another
        patient (DICOM PatientID) or dated after `x` raises `InputError` naming the prior
        unless `force`; a prior that fails QC raises `QualityError` naming it.
        `prior_offset_days`: days from the prior to `x` when the files carry no dates.
        """
        if isinstance(x, Sequence) and not isinstance(x, (str, bytes)):
            if prior is not None:
                raise InputError("a prior film can be given for one input only, not a list")
            return list(self.iter_read(x, progress=progress))
        if prior is not None:
            return self._read_with_prior(x, prior, force, prior_offset_days)
        item = self._prepare(0, x)
        if item.error is not None:
            raise item.error
        return self._interpret_images([item])[0]

    def _read_with_prior(self, x: Input, prior: Input, force: bool,
                         offset_days: float | None) -> Interpretation:
        """Read `x` and its `prior` in one batch and compare them (see `read`)."""
        from radlens.tasks.compare import compare, read_pair_images

        current, before = self._prepare(0, x), self._prepare(1, prior)
        if current.error is not None:
            raise current.error
        if before.error is not None:
            exc = before.error
            if isinstance(exc, RadlensError):  # same error type, the message says "prior"
                import copy

                named = copy.copy(exc)
                named.reason = f"the prior film: {exc.reason}"
                named.source = exc.source or before.source
                named.args = (named.one_line(),)
                raise named from exc
            raise exc
        assert current.image is not None and before.image is not None
        prior_id, warnings, offset = read_pair_images(current.image, before.image, force=force,
                                                      offset_days=offset_days)
        now, then = self._interpret_images([current, before])
        out = compare(now, then, prior_identity=prior_id, offset_days=offset,
                      warnings=warnings)
        if self.report:
            from radlens.report import write_report

            out = dataclasses.replace(out, report=write_report(
                out, indication=self.indication, style=self.style))
        return out

    def iter_read(self, inputs: Sequence[Input], *, progress: bool = False
                  ) -> Iterator[Interpretation | ReadFailure]:
        """Read `inputs` in batches, yielding one result per input in order (see `read`)."""
        from tqdm import tqdm

        bar = tqdm(total=len(inputs), unit="img", desc="read", disable=not progress,
                   dynamic_ncols=True)
        try:
            batch: list[_Item] = []
            for item in self._prepared(inputs):
                batch.append(item)
                if len(batch) >= self.batch_size:
                    yield from self._interpret(batch)
                    bar.update(len(batch))
                    batch = []
            if batch:
                yield from self._interpret(batch)
                bar.update(len(batch))
        finally:
            bar.close()

    def ask(self, x: Any, question: str | Sequence[str], *, progress: bool = False) -> Any:
        """Answer questions about inputs from their readings (`radlens.tasks.ask`).

        `x`: one input (or an `Interpretation` already made) with a question -> an
        `radlens.schema.Answer`, or with a list of questions -> a list of Answers (one
        reading); a list of inputs with one question for all or one per input -> a list with
        an Answer or a `ReadFailure` per input. Answers come only from the reading, with
        their evidence, or say "cannot answer: <reason>" (``answered`` False).
        """
        from radlens.tasks.ask.reading import ask

        return ask(self, x, question, progress=progress)

    def _prepare(self, index: int, x: Input) -> _Item:
        from radlens.io.qc import check

        source = _source_of(x, index)
        item = _Item(index, source)
        try:
            image = to_image(x, source if not isinstance(x, (str, os.PathLike)) else None)
            qc = check(image)
            if not qc.passed:
                reasons = "; ".join(i.message for i in qc.fatal)
                raise QualityError(f"failed the input-quality check: {reasons}",
                                   image.meta.source, qc.issues)
            item.image, item.qc = image, qc
        except RadlensError as exc:
            item.error, item.failed = exc, failure(source, exc)
        except Exception as exc:  # a decoder bug on one odd file: that input fails, not the list
            log.exception("internal error reading input %d", index)
            reason = f"internal error ({type(exc).__name__}: {exc}); please report it"
            item.error = exc
            item.failed = ReadFailure(source, "InternalError", " ".join(
                f"{source}: {reason}".split()), reason=reason)
        return item

    def _prepared(self, inputs: Sequence[Input]) -> Iterator[_Item]:
        """Prepared items in order; with workers, decoding runs ahead in a thread pool."""
        if self.workers == 0 or len(inputs) == 1:
            for i, x in enumerate(inputs):
                yield self._prepare(i, x)
            return
        ahead = self.batch_size + self.workers  # the next batch decodes while this one runs
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="radlens-decode")
        try:
            queue: deque[Future[_Item]] = deque()
            it = iter(enumerate(inputs))
            for i, x in it:
                queue.append(pool.submit(self._prepare, i, x))
                if len(queue) >= ahead:
                    break
            while queue:
                yield queue.popleft().result()
                nxt = next(it, None)
                if nxt is not None:
                    queue.append(pool.submit(self._prepare, *nxt))
        finally:  # also when the caller stops early: drop what was not started
            pool.shutdown(wait=True, cancel_futures=True)

    def _interpret(self, batch: list[_Item]) -> Iterator[Interpretation | ReadFailure]:
        good = [b for b in batch if b.failed is None]
        done: dict[int, Interpretation | ReadFailure] = {}
        if good:
            for b, out in zip(good, self._interpret_images(good), strict=True):
                done[b.index] = out
        for b in batch:
            failed = b.failed
            yield failed if failed is not None else done[b.index]

    def _interpret_images(self, items: list[_Item]) -> list[Interpretation]:
        import torch

        from radlens.grounding.locate import locate_findings
        from radlens.tasks.guardrails import (
            assess,
            frontal_by_ood,
            lateral_by_lungs,
            lateral_from_image_only,
            ood_warning,
        )
        from radlens.tasks.guardrails import rules as guard_rules

        images = [b.image for b in items if b.image is not None]
        classified: list[tuple[tuple[Finding, ...], tuple[Region, ...], tuple[ModelInfo, ...]]]
        loaded = self.classifier
        far: list[Any] = []  # the out-of-distribution warning of each image, or None
        if loaded is not None:
            from radlens.models.classifier import preprocess, to_channels_last
            from radlens.tasks.batched import classify_batch

            x = to_channels_last(torch.cat([preprocess(im.pixels, loaded.size)
                                            for im in images]).to(self.device))
            pops = [population_of(im, loaded.info.name if self._ref is None else self._ref,
                                  self.age) for im in images]
            results = classify_batch(images, x, loaded, self.explain, pops, self._net)
            classified = [(r.findings, r.regions, (r.model,)) for r in results]
            far = [ood_warning(r.ood_score, r.ood_threshold, loaded.info.name) for r in results]
        else:
            classified = [((), (), ()) for _ in images]
            far = [None for _ in images]
        card_ref = (self._ref or loaded.info.name) if loaded is not None else ""
        name = loaded.info.name if loaded is not None else ""
        qcs = [b.qc for b in items if b.qc is not None]
        guards = [assess(im.meta, qc, card_population(card_ref) if card_ref else None,
                         name, self.age) for im, qc in zip(images, qcs, strict=True)]
        withdrawn: set[int] = set()  # QC's lateral call withdrawn: the film is in distribution
        if loaded is not None and loaded.ood is not None:
            for k, (im, qc) in enumerate(zip(images, qcs, strict=True)):
                if guards[k].lateral and far[k] is None and lateral_from_image_only(im.meta, qc):
                    guards[k] = frontal_by_ood(guards[k])
                    withdrawn.add(k)
        ground_at = [k for k, g in enumerate(guards) if self.explain and not g.lateral]
        grounded = self._ground([images[k] for k in ground_at],
                                [classified[k] for k in ground_at]) if ground_at else None
        if grounded is not None:  # a second lateral rule, on the lungs of flagged films
            for j, k in enumerate(ground_at):
                if far[k] is not None and grounded[j][3]:
                    guards[k] = lateral_by_lungs(guards[k])
            keep = [j for j, k in enumerate(ground_at) if not guards[k].lateral]
            ground_at = [ground_at[j] for j in keep]
            grounded = [grounded[j] for j in keep]
        out = []
        for k, (im, qc) in enumerate(zip(images, qcs, strict=True)):
            findings, regions, models = classified[k]
            notes: list[str] = [] if loaded is not None else [NO_MODEL_NOTE]
            if k in withdrawn:
                notes.append(guard_rules()["notes"]["lateral_withdrawn"])
            guard = guards[k]
            g = grounded[ground_at.index(k)] if grounded is not None and k in ground_at \
                else None
            if g is not None:
                regions, extra_models, lung_notes, _ = g
                models += extra_models
                notes += lung_notes
            if guard.lateral:  # no right/left on a lateral film: drop every side and zone
                regions = tuple(dataclasses.replace(r, side=None, zones=())
                                if r.kind is RegionKind.FINDING else r for r in regions)
            findings, where = locate_findings(findings, regions, grounded=g is not None,
                                              withheld=guard.lateral)
            meta = dataclasses.replace(im.meta, patient_age_years=guard.age_years)
            interp = Interpretation(image=meta, qc=qc, findings=findings, regions=regions,
                                    models=models, notes=tuple(notes),
                                    radlens_version=__version__,
                                    warnings=guard.warnings + where
                                    + ((far[k],) if far[k] is not None else ()))
            if self.report:
                from radlens.report import write_report

                interp = dataclasses.replace(interp, report=write_report(
                    interp, indication=self.indication, style=self.style))
            out.append(interp)
        return out

    def _has_segmenter(self) -> bool:
        if self._segmenter is None:
            self._segmenter = False
            if importlib.util.find_spec("radlens.tasks.segment") is not None:
                from radlens.models.registry import default_model

                self._segmenter = default_model("segment") is not None
        return self._segmenter

    def _ground(self, images: list[Image],
                classified: list[tuple[tuple[Finding, ...], tuple[Region, ...],
                                       tuple[ModelInfo, ...]]]
                ) -> list[tuple[tuple[Region, ...], tuple[ModelInfo, ...], tuple[str, ...], bool]] \
            | None:
        """Per image: lung regions plus the finding regions grounded in lung zones (grounded
        regions keep their ids, so findings still point at them), the segmenter's notes and
        whether the lungs look lateral (`lungs_look_lateral`); None without a segmenter."""
        if not self._has_segmenter():
            return None
        import torch

        from radlens.models.classifier import preprocess
        from radlens.tasks.ground import ground_findings
        from radlens.tasks.guardrails import lungs_look_lateral
        from radlens.tasks.segment import lung_regions, lungs_from_probability, predict_batch

        probs, info = predict_batch(
            lambda size: torch.cat([preprocess(im.pixels, size) for im in images]),
            device=self.device, channels_last=True)
        out: list[tuple[tuple[Region, ...], tuple[ModelInfo, ...], tuple[str, ...], bool]] = []
        for im, prob, (findings, regions, _) in zip(images, probs, classified, strict=True):
            lungs = lungs_from_probability(prob, im.pixels.shape[:2], info)
            grounded = {r.id: r for r in ground_findings(im, findings, regions, lungs)}
            regs = tuple(grounded.get(r.id, r) for r in regions) + tuple(lung_regions(lungs))
            out.append((regs, (lungs.model,), tuple(lungs.notes),
                        lungs_look_lateral(lungs.right.mask, lungs.left.mask)))
        return out

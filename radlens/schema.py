"""The typed result schema: the contract between every part of radlens.

All results are frozen dataclasses. `radlens.schema_json` turns any of them into JSON and back
without loss (`to_json` / `from_json`).

Conventions used throughout
---------------------------
Pixels
    `Image.pixels` is a float32 array of shape (rows, columns) with values in [0, 1]:
    0 is the darkest display value (air on a radiograph), 1 the brightest (bone, metal), after the
    DICOM Modality LUT, VOI LUT / window and MONOCHROME1 inversion have been applied. See
    `radlens.io` for the exact mapping of every input format.
Image coordinates
    Every position refers to the loaded image's own pixel grid, which is the original file's grid
    (radlens never resizes at load). ``x`` is the column and grows to the right, ``y`` is the row
    and grows downwards; the origin (0, 0) is the top-left corner of the top-left pixel, so pixel
    (row r, column c) covers [c, c+1) x [r, r+1). On a PA/AP chest radiograph in standard display
    the patient's right is on the image's left.
Masks and heatmaps
    2-D arrays covering the whole image. A mask is boolean; a heatmap is float in [0, 1]. When
    their shape differs from the image's (a heatmap at model resolution), they are stretched over
    the whole image: array cell (i, j) of an (h, w) array covers image columns
    [j*W/w, (j+1)*W/w) and rows [i*H/h, (i+1)*H/h).
Probabilities
    Calibrated probabilities in [0, 1].
"""

from __future__ import annotations

import datetime as _dt
import uuid
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from radlens._repr import short_repr

SCHEMA_VERSION = "1"


class Severity(StrEnum):
    """How serious a QC result is. FATAL stops interpretation; WARNING travels with the result."""

    INFO = "info"
    WARNING = "warning"
    FATAL = "fatal"


class Call(StrEnum):
    """The decision made about one finding."""

    POSITIVE = "positive"
    NEGATIVE = "negative"
    UNCERTAIN = "uncertain"

    @classmethod
    def from_probability(cls, probability: float, threshold: float,
                         uncertain_from: float | None = None) -> Call:
        """Call a finding from its probability.

        positive when ``probability >= threshold``; uncertain when `uncertain_from` is given and
        ``uncertain_from <= probability < threshold``; negative otherwise. All values in [0, 1].
        """
        if probability >= threshold:
            return cls.POSITIVE
        if uncertain_from is not None and probability >= uncertain_from:
            return cls.UNCERTAIN
        return cls.NEGATIVE


class Certainty(StrEnum):
    """How firmly the report words a finding, from its probability and the card's thresholds.

    STATED: positive at or above the high-specificity threshold (``Finding.stated_from``; a
    positive finding without one is stated). POSSIBLE: positive but below that threshold.
    UNCERTAIN: the uncertain call. ABSENT: negative; a finding is only ever said to be absent
    when a model assessed it.
    """

    STATED = "stated"
    POSSIBLE = "possible"
    UNCERTAIN = "uncertain"
    ABSENT = "absent"


class LocationStatus(StrEnum):
    """Whether a finding's place could be given.

    LOCATED: zones and/or side are known. NOT_DETERMINED: the finding has a heatmap, but most of
    its heat lies outside the segmented lungs. WITHHELD: sides and zones cannot hold on this
    film (a lateral view). UNKNOWN: no heatmap or no lung segmentation to place it.
    """

    LOCATED = "located"
    NOT_DETERMINED = "not_determined"
    WITHHELD = "withheld"
    UNKNOWN = "unknown"


class WarningCode(StrEnum):
    """Stable codes of the reading's guardrail warnings (`ReadingWarning.code`)."""

    AGE_BELOW_POPULATION = "age_below_population"      # e.g. a child on an adult model
    AGE_ABOVE_POPULATION = "age_above_population"
    AGE_UNKNOWN = "age_unknown"                        # the model's population has an age range
    AGE_MALFORMED = "age_malformed"                    # PatientAge not a DICOM Age String
    AGE_IMPLAUSIBLE = "age_implausible"                # over 120 years
    BIRTH_AFTER_STUDY = "birth_after_study"            # PatientBirthDate after the study date
    DATE_MALFORMED = "date_malformed"                  # PatientBirthDate / StudyDate unreadable
    VIEW_UNKNOWN = "view_unknown"                      # a ViewPosition the tool does not know
    VIEW_OUTSIDE_POPULATION = "view_outside_population"
    LATERAL_VIEW = "lateral_view"                      # sides and zones withheld
    LOCATION_NOT_DETERMINED = "location_not_determined"
    OUT_OF_DISTRIBUTION = "out_of_distribution"
    PRIOR_SAME_FILM = "prior_same_film"                # the prior is the current film itself
    PRIOR_OTHER_PATIENT = "prior_other_patient"        # PatientIDs differ (compared on --force)
    PRIOR_NEWER = "prior_newer"                        # prior dated after the current (forced)
    PRIOR_VIEW_DIFFERS = "prior_view_differs"          # e.g. PA now, AP before
    PRIOR_UNRELIABLE = "prior_unreliable"              # prior QC warning or out of distribution


@dataclass(frozen=True)
class ReadingWarning:
    """One guardrail warning: a stable `code` (a `WarningCode` value), a plain sentence for the
    reader, the input `field` it rests on (e.g. "PatientAge", "ViewPosition") and the finding
    `label` it concerns, when any. Messages never repeat identifying values (dates, names)."""

    code: str
    message: str
    field: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class Location:
    """Where a finding is, as every output states it: one object per finding.

    `zones`: the zones reported, strongest first (e.g. ("right lower", "right middle"));
    `side`: the patient's "right", "left", "bilateral" or None; `status`: a `LocationStatus`
    value; `in_lung`: fraction in [0, 1] of the finding's heat mass inside the segmented lungs
    (None when unknown).
    """

    zones: tuple[str, ...] = ()
    side: str | None = None
    status: str = "unknown"
    in_lung: float | None = None

    @property
    def known(self) -> bool:
        """True when zones or a side may be stated."""
        return self.status == LocationStatus.LOCATED and bool(self.zones or self.side)


class RegionKind(StrEnum):
    """What a `Region` describes."""

    LUNG = "lung"            # segmented lung (mask and box)
    ZONE = "zone"            # one of the six lung zones
    FINDING = "finding"      # where a finding lies (heatmap, mask, box)


@dataclass(frozen=True)
class ImageMeta:
    """What is known about an input image besides its pixels.

    `width` and `height` are in pixels of the loaded image. `pixel_spacing_mm` is (row spacing,
    column spacing) in millimetres when the file records it (DICOM PixelSpacing or
    ImagerPixelSpacing). `patient_age_years` and `patient_sex` ("M", "F", "O") come from DICOM
    when present. `source` is the path as given by the caller.
    """

    source: str
    format: str  # "dicom", "png", "jpeg", "tiff", "nifti", "array"
    width: int
    height: int
    modality: str | None = None
    view_position: str | None = None
    photometric_interpretation: str | None = None
    pixel_spacing_mm: tuple[float, float] | None = None
    bits_stored: int | None = None
    number_of_frames: int = 1
    patient_age_years: float | None = None
    patient_sex: str | None = None
    study_instance_uid: str | None = None
    series_instance_uid: str | None = None
    sop_instance_uid: str | None = None
    transfer_syntax_uid: str | None = None
    intensity_window: str | None = None  # how pixels were mapped to [0, 1], e.g. "voi-window"


@dataclass(frozen=True, eq=False)
class Image:
    """A loaded image: float32 pixels of shape (height, width) in [0, 1] (see module docstring)."""

    pixels: np.ndarray
    meta: ImageMeta

    __repr__ = short_repr

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Image):
            return NotImplemented
        return self.meta == other.meta and np.array_equal(self.pixels, other.pixels)

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class QCIssue:
    """One input-quality result: a stable machine `code`, its `severity`, a sentence for people."""

    code: str
    severity: Severity
    message: str


@dataclass(frozen=True)
class QCReport:
    """All QC results for one image. `passed` is False when any issue is fatal."""

    issues: tuple[QCIssue, ...] = ()

    @property
    def passed(self) -> bool:
        return not any(i.severity is Severity.FATAL for i in self.issues)

    @property
    def fatal(self) -> tuple[QCIssue, ...]:
        return tuple(i for i in self.issues if i.severity is Severity.FATAL)

    @property
    def warnings(self) -> tuple[QCIssue, ...]:
        return tuple(i for i in self.issues if i.severity is Severity.WARNING)


@dataclass(frozen=True)
class Finding:
    """One finding as judged by one model.

    `probability` is calibrated, in [0, 1]. `threshold` is the operating threshold at or above
    which the call is positive; `uncertain_from` (optional) the lower threshold at or above which
    it is uncertain; `stated_from` (optional, the card's high-specificity threshold) the one at or
    above which a positive finding is stated rather than called possible. `region_ids` point at
    `Region.id` values in the same `Interpretation`. `location`: where every output places the
    finding (set by the pipeline's grounding; None when not computed, see
    `radlens.grounding.locate.location_of`).
    """

    label: str
    probability: float
    threshold: float
    call: Call
    model: str
    uncertain_from: float | None = None
    region_ids: tuple[str, ...] = ()
    stated_from: float | None = None
    location: Location | None = None

    @property
    def certainty(self) -> Certainty:
        """The `Certainty` band of this finding (see `Certainty`)."""
        if self.call is Call.NEGATIVE:
            return Certainty.ABSENT
        if self.call is Call.UNCERTAIN:
            return Certainty.UNCERTAIN
        if self.stated_from is not None and self.probability < self.stated_from:
            return Certainty.POSSIBLE
        return Certainty.STATED


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in image coordinates (pixels, see module docstring); x0<=x1, y0<=y1."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def area(self) -> float:
        return max(0.0, self.x1 - self.x0) * max(0.0, self.y1 - self.y0)

    def iou(self, other: Box) -> float:
        """Intersection over union with `other`, in [0, 1] (0 when both are empty)."""
        ix = max(0.0, min(self.x1, other.x1) - max(self.x0, other.x0))
        iy = max(0.0, min(self.y1, other.y1) - max(self.y0, other.y0))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0


@dataclass(frozen=True, eq=False)
class Region:
    """A place on the image: a lung, a lung zone, or where a finding lies.

    `side` is the patient's side ("right", "left") or None. `zones` lists (zone name, fraction of
    the region's heatmap mass in that zone); zone names are like "right upper". `mask` (bool) and
    `heatmap` (float in [0, 1]) follow the array convention in the module docstring.
    """

    id: str
    kind: RegionKind
    label: str
    box: Box | None = None
    mask: np.ndarray | None = None
    heatmap: np.ndarray | None = None
    side: str | None = None
    zones: tuple[tuple[str, float], ...] = ()
    score: float | None = None

    __repr__ = short_repr

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Region):
            return NotImplemented

        def same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
            if a is None or b is None:
                return a is b
            return a.dtype == b.dtype and np.array_equal(a, b)

        return (
            (self.id, self.kind, self.label, self.box, self.side, self.zones, self.score)
            == (other.id, other.kind, other.label, other.box, other.side, other.zones,
                other.score)
            and same(self.mask, other.mask) and same(self.heatmap, other.heatmap)
        )

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Sentence:
    """One report sentence and the evidence it rests on (finding labels and region ids)."""

    text: str
    section: str  # "findings" or "impression"
    finding_labels: tuple[str, ...] = ()
    region_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Report:
    """A draft report made of grounded sentences, with what produced it."""

    sentences: tuple[Sentence, ...] = ()
    generator: str = ""
    thresholds: tuple[tuple[str, float], ...] = ()
    certainty: tuple[tuple[str, str], ...] = ()  # (label, Certainty value) of covered findings

    def section_text(self, section: str) -> str:
        """The sentences of one section joined by spaces ("" when it has none)."""
        return " ".join(s.text for s in self.sentences if s.section == section)


@dataclass(frozen=True)
class ModelInfo:
    """Which model produced part of a result: its registry name, version and weights digest."""

    name: str
    version: str
    task: str
    sha256: str = ""


def _new_id() -> str:
    return uuid.uuid4().hex


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


class ChangeKind(StrEnum):
    """How a finding changed since the prior film (`Change.change`)."""

    NEW = "new"                # absent on the prior, present now
    RESOLVED = "resolved"      # present on the prior, absent now
    INCREASED = "increased"    # present on both, more probable and/or larger now
    DECREASED = "decreased"    # present on both, less probable and/or smaller now
    UNCHANGED = "unchanged"    # no change beyond the fitted margins (present or absent on both)


@dataclass(frozen=True)
class Change:
    """One finding compared with the prior film (`radlens.tasks.compare`).

    `prior_probability` / `current_probability`: the calibrated probabilities in [0, 1] of the
    two readings; `prior_call` / `current_call` their calls. `prior_extent` / `current_extent`:
    the share in [0, 1] of the aligned lung area covered by the finding's grounded region
    (0 when the finding has no region, i.e. is not positive; None when the film's lungs or
    heatmaps were not available). `overlap`: intersection over union, in the aligned lung
    frame, of the two films' regions (None unless both have one). `score`: the signed change
    score (logit difference plus the fitted weight times the extent difference; > 0 worse).
    `zones`: the current film's zones of the finding (strongest first; the prior's when it
    resolved). `region_ids`: the current film's regions it rests on.
    """

    label: str
    change: ChangeKind
    prior_probability: float
    current_probability: float
    prior_call: Call
    current_call: Call
    score: float = 0.0
    prior_extent: float | None = None
    current_extent: float | None = None
    overlap: float | None = None
    zones: tuple[str, ...] = ()
    region_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class PriorStudy:
    """Which film a reading was compared with, and how the two were aligned.

    `source`: the prior's path as given; `interpretation_id`: the prior reading's id;
    `study_instance_uid` / `sop_instance_uid` (and `series_instance_uid`, `sop_class_uid`):
    its DICOM UIDs (None otherwise);
    `study_date`: its study (or acquisition) date as ISO ``YYYY-MM-DD`` when DICOM says;
    `offset_days`: days from the prior to the current film (> 0: the prior is older; from the
    two DICOM dates, or as the caller gave it). `alignment`: (scale_x, scale_y, shift_x,
    shift_y) mapping prior image pixels to current image pixels, ``x_cur = scale_x * x_prior +
    shift_x`` (same for y), from the two lung boxes; `method`: how the lungs were aligned
    ("lung-boxes": each lung's box on its own, "lung-box": the two lungs' common box,
    "image": whole images, no lungs found). `findings`: (label, probability) of the prior.
    """

    source: str
    interpretation_id: str
    study_instance_uid: str | None = None
    sop_instance_uid: str | None = None
    study_date: str | None = None
    offset_days: float | None = None
    alignment: tuple[float, float, float, float] | None = None
    method: str = "lung-boxes"
    findings: tuple[tuple[str, float], ...] = ()
    series_instance_uid: str | None = None
    sop_class_uid: str | None = None


@dataclass(frozen=True)
class Interpretation:
    """Everything radlens concluded about one image: the single serialisable result.

    `notes` carries plain-language remarks for the reader, such as that no model is installed;
    `warnings` the guardrail warnings (population, age, view, location; see `WarningCode`).
    `comparison` and `prior`: the change of every finding since a prior film and which film
    that was (`radlens.Reader.read(current, prior=...)`; empty / None without a prior).
    """

    image: ImageMeta
    qc: QCReport
    findings: tuple[Finding, ...] = ()
    regions: tuple[Region, ...] = ()
    report: Report | None = None
    models: tuple[ModelInfo, ...] = ()
    notes: tuple[str, ...] = ()
    radlens_version: str = ""
    warnings: tuple[ReadingWarning, ...] = ()
    id: str = field(default_factory=_new_id)
    created: str = field(default_factory=_now)
    schema_version: str = SCHEMA_VERSION
    comparison: tuple[Change, ...] = ()  # change since `prior` per finding (empty: no prior)
    prior: PriorStudy | None = None

    def finding(self, label: str) -> Finding | None:
        """The finding with this label, or None."""
        return next((f for f in self.findings if f.label == label), None)

    def region(self, region_id: str) -> Region | None:
        """The region with this id, or None."""
        return next((r for r in self.regions if r.id == region_id), None)


@dataclass(frozen=True)
class ReadFailure:
    """An input that could not be read, in a list of readings (`radlens.Reader.read`).

    `source`: the input's name (the path as given, or ``<array 3>`` for the list's fourth
    item); `error_type`: the `radlens.errors.RadlensError` subclass name (e.g.
    "DecodeError", "QualityError", "InputError"); `message`: the one-line error
    (``<source>: <what is wrong>``); `issues`: the QC results when the quality gate stopped it;
    `reason`: what is wrong, without the source.
    """

    source: str
    error_type: str
    message: str
    issues: tuple[QCIssue, ...] = ()
    reason: str = ""

    @property
    def ok(self) -> bool:
        """Always False (an `Interpretation` is a reading that succeeded)."""
        return False


@dataclass(frozen=True)
class Evidence:
    """Why a report was given one label value: the text span and the rule that produced it.

    `start` and `end` are character offsets into the original report text (end exclusive) of the
    mention; `sentence_start`/`sentence_end` delimit the sentence containing it. `value` is 1
    (positive), 0 (negative) or -1 (uncertain). `rule` names the rule file and entry that fired.
    """

    label: str
    value: int
    start: int
    end: int
    sentence_start: int
    sentence_end: int
    section: str | None
    rule: str


@dataclass(frozen=True)
class LabelRecord:
    """Labels extracted from one report text, in a vocabulary's order, with their evidence.

    `labels` pairs every label of `vocabulary` with 1, 0, -1 or None (not mentioned), following
    the CheXpert convention.
    """

    id: str
    vocabulary: str
    labels: tuple[tuple[str, int | None], ...]
    evidence: tuple[Evidence, ...] = ()

    def value(self, label: str) -> int | None:
        """The value of `label` (1, 0, -1 or None); KeyError when not in the vocabulary."""
        for name, value in self.labels:
            if name == label:
                return value
        raise KeyError(label)

    def as_dict(self) -> dict[str, int | None]:
        """label -> value, in vocabulary order."""
        return dict(self.labels)


class AskIntent(StrEnum):
    """What a question about a reading asks (`Question.intent`, `Answer.intent`)."""

    PRESENCE = "presence"            # "is there a pleural effusion?"
    FINDINGS = "findings"            # "what disease is shown?" (the positive findings)
    LOCATION = "location"            # "where is the mass?", "which side is abnormal?"
    NORMALITY = "normality"          # "is this image normal?", "is the lung abnormal?"
    ABNORMAL_ORGAN = "abnormal_organ"  # "which organ is abnormal, heart or lung?"
    MODALITY = "modality"            # "what modality is this?", "is this a CT?"
    PLANE = "plane"                  # "which plane?", "is this a PA film?"
    HEART_SIZE = "heart_size"        # "what is the cardiothoracic ratio?"
    COUNT = "count"                  # "how many lungs are shown?"
    ORGAN = "organ"                  # "what organ system is shown?"
    UNKNOWN = "unknown"              # no rule recognised the question
    INVALID = "invalid"              # empty, not English, or about another modality / organ


@dataclass(frozen=True)
class Question:
    """A question parsed into an intent with its slots (`radlens.tasks.ask.parse`).

    `text`: the question as asked; `intent`: an `AskIntent` value; `closed`: True for a
    yes/no or a choice question; `labels`: finding labels asked about, in the classifier's
    vocabulary (e.g. "Pleural Effusion"); `negated`: the question asks about absence
    ("are the lungs free of consolidation?", "is the heart size normal?"); `side` ("right",
    "left", "bilateral") and `zone` ("upper", "middle", "lower") restrict where; `subject`:
    what the question is about ("image", "lung", "heart", or a structure no model assesses,
    e.g. "trachea"); `choices`: the options of a choice question, in the benchmark's words
    (for modality and organ questions: the modalities / body regions named, e.g. ("ct",));
    `unsupported`: things asked about that no radlens model covers (e.g. "fracture");
    `qualified`: qualities asked of a finding that no model judges ("cavitary", "solitary"):
    an absent finding is still answered "no", a present one cannot be answered;
    `problem`: why the question cannot be taken (empty, non-English, another modality), None
    when it can; `rules`: the rule names that fired (``<file>:<line>``), as evidence.
    """

    text: str
    intent: str
    closed: bool = False
    labels: tuple[str, ...] = ()
    negated: bool = False
    side: str | None = None
    zone: str | None = None
    subject: str | None = None
    choices: tuple[str, ...] = ()
    unsupported: tuple[str, ...] = ()
    problem: str | None = None
    rules: tuple[str, ...] = ()
    qualified: tuple[str, ...] = ()


@dataclass(frozen=True)
class AnswerEvidence:
    """What one answer rests on. `kind`: "finding" (`label`, `probability`, `threshold`,
    `call`, and its `side` / `zones` when located), "region" (`region_ids`, `label`, `side`,
    `zones`, `value` e.g. a count or ratio), "metadata" (`field` of `ImageMeta` and its
    `value`), "qc" (a QC `field` code) or "scope" (what radlens reads, `value`, when the file
    records nothing). Probabilities and thresholds in [0, 1]."""

    kind: str
    label: str | None = None
    probability: float | None = None
    threshold: float | None = None
    call: str | None = None
    side: str | None = None
    zones: tuple[str, ...] = ()
    region_ids: tuple[str, ...] = ()
    field: str | None = None
    value: str | None = None


@dataclass(frozen=True)
class Answer:
    """A grounded answer to one question about one reading (`radlens.tasks.ask.answer`).

    `answer`: "yes" / "no", the asked choice, or a short phrase in the benchmark vocabulary
    (e.g. "x-ray", "lower left lung"); "cannot answer: <reason>" when `answered` is False.
    `intent`: an `AskIntent` value; `evidence`: what the answer was computed from; `reason`:
    why it was not answered (None when answered); `question`: the parsed question;
    `interpretation_id`: the `Interpretation.id` it was computed from; `source`: that
    reading's image source.
    """

    answer: str
    answered: bool
    intent: str
    evidence: tuple[AnswerEvidence, ...] = ()
    reason: str | None = None
    question: Question | None = None
    interpretation_id: str = ""
    source: str = ""

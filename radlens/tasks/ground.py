"""Ground findings: where each finding's heatmap lies (lung zones, main box, mask), and phrases.

Grounded regions are `radlens.schema.Region`s of kind FINDING. They keep the heatmap of the
region they ground (Grad-CAM from the classifier) and add: `zones` (zone name, fraction of the
heatmap's total mass in that zone; their sum is the in-lung share, the rest lies outside the
lungs), `box` (image pixels) around the main hot component *inside the segmented lungs*,
`mask` (that component on a 128 x 128 grid stretched over the image; None when no heat lies
in the lungs) and `side` (the patient's side holding more than 65% of the in-lung mass, else
None). What the reading states about the place is `radlens.grounding.locate.locate` of these.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import Any

from radlens.grounding.heat import main_component
from radlens.grounding.zones import LEVELS, SIDES, zone_fractions
from radlens.schema import Call, Finding, Image, Region
from radlens.tasks.segment import LungResult

METHOD_CAM = "grad-cam"
SIDE_SHARE = 0.65


@dataclass(frozen=True, eq=False)
class GroundResult:
    """What `ground` found for a phrase.

    `labels`: findings the phrase mentions (labeller, positive or uncertain mentions);
    `finding`: the classifier's finding the phrase was mapped to (None when none fits);
    `regions`: its grounded region (empty when unmapped); `phrase_zones`: lung zones the
    phrase names (e.g. ("right lower",)); `agreement`: fraction of the in-lung heatmap mass in
    those zones (None when the phrase names no place); `method`: "grad-cam" (the fallback
    pointer, no learned localiser covers the finding yet) or "none"; `lungs`: the segmentation;
    `notes`: plain sentences (unmapped phrases, missing lungs).
    """

    phrase: str
    labels: tuple[str, ...]
    finding: Finding | None
    regions: tuple[Region, ...]
    phrase_zones: tuple[str, ...]
    agreement: float | None
    method: str
    lungs: LungResult | None
    notes: tuple[str, ...] = ()


@cache
def _map() -> dict[str, Any]:
    text = resources.files("radlens.grounding").joinpath("finding_map.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def ground_region(region: Region, lungs: LungResult, image_shape: tuple[int, int]) -> Region:
    """A grounded copy of a heatmap region (same id): zones, main-component box and mask, side.

    `image_shape` is (height, width). Regions without a heatmap are returned unchanged.
    """
    if region.heatmap is None:
        return region
    zones = zone_fractions(region.heatmap, lungs.zones, min_fraction=1e-4)
    comp, box, _ = main_component(region.heatmap, image_shape, within=lungs.zones > 0)
    right = sum(f for z, f in zones if z.startswith("right"))
    left = sum(f for z, f in zones if z.startswith("left"))
    side = None
    if right + left > 0:
        share = right / (right + left)
        side = "right" if share > SIDE_SHARE else "left" if share < 1 - SIDE_SHARE else None
    return replace(region, zones=zones, box=box, mask=comp if comp.any() else None, side=side)


def ground_findings(image: Image, findings: tuple[Finding, ...], regions: tuple[Region, ...],
                    lungs: LungResult) -> tuple[Region, ...]:
    """Grounded versions of the heatmap regions of the positive findings.

    `findings`, `regions`: as `radlens.tasks.classify.classify` returns them; `lungs`: from
    `radlens.tasks.segment.segment_lungs` on the same image. Returned regions keep their ids,
    so they replace the classifier's regions one for one (findings' `region_ids` stay valid).
    Regions of findings that are not positive are left out.
    """
    shape = (image.meta.height, image.meta.width)
    by_id = {r.id: r for r in regions}
    out = []
    for f in findings:
        if f.call is not Call.POSITIVE:
            continue
        for rid in f.region_ids:
            if rid in by_id:
                out.append(ground_region(by_id[rid], lungs, shape))
    return tuple(out)


def phrase_zones(phrase: str) -> tuple[str, ...]:
    """Lung zones a phrase names, e.g. "right lower lobe" -> ("right lower",); "left" ->
    the three left zones; "bibasal" is not parsed (no side words) -> both lower zones."""
    words = set(re.findall(r"[a-z]+", phrase.lower()))
    loc = _map()["locations"]
    sides = [s for s in SIDES if words & set(loc[s])]
    levels = [lv for lv in LEVELS if words & set(loc[lv])]
    if not sides and not levels:
        return ()
    return tuple(f"{s} {lv}" for s in (sides or SIDES) for lv in (levels or LEVELS))


def map_label(labels: tuple[str, ...], model_labels: tuple[str, ...]) -> str | None:
    """The first model label related to one of `labels` (see finding_map.json), or None."""
    related = _map()["related"]
    for label in labels:
        for candidate in related.get(label, [label]):
            if candidate in model_labels:
                return str(candidate)
    return None


def ground(image: Image | str, phrase: str, model: str | None = None,
           segmenter: str | None = None) -> GroundResult:
    """Map a phrase such as "right lower lobe consolidation" to a finding and locate it.

    `image`: an `Image` or a path (loaded with `radlens.load_image`). The phrase is labelled
    with the report labeller (CheXpert-14 vocabulary); the first mentioned finding the
    classifier covers (directly or through finding_map.json) is explained with Grad-CAM whatever
    its call, and grounded in the lung zones. Returns a `GroundResult`; raises `ModelError`
    when no classifier or segmenter is installed.
    """
    from radlens.io import load_image
    from radlens.models.classifier import preprocess
    from radlens.models.gradcam import grad_cam
    from radlens.models.registry import LoadedModel
    from radlens.tasks.classify import heat_region, probabilities
    from radlens.tasks.segment import segment_lungs
    from radlens.text.labeler import label

    img = load_image(image) if isinstance(image, str) else image
    record = label([phrase])[0]
    named = tuple(n for n, v in record.labels if v in (1, -1) and n != "No Finding")
    zones = phrase_zones(phrase)
    probs, loaded_obj = probabilities(img, model)
    assert isinstance(loaded_obj, LoadedModel)
    loaded = loaded_obj
    target = map_label(named, tuple(loaded.labels))
    if target is None:
        what = ", ".join(named) or "no finding"
        return GroundResult(phrase, named, None, (), zones, None, "none", None,
                            (f"The phrase names {what}, which the classifier does not cover.",))
    j = loaded.labels.index(target)
    thr = loaded.threshold(target)
    p = float(probs[j])
    heat = grad_cam(loaded.network, preprocess(img.pixels, loaded.size), [j])[j]
    region = heat_region(heat, target, p, img.meta.width, img.meta.height)
    lungs = segment_lungs(img, segmenter)
    grounded = ground_region(region, lungs, (img.meta.height, img.meta.width))
    finding = Finding(target, p, thr, Call.from_probability(p, thr),
                      loaded.info.name, region_ids=(grounded.id,))
    agreement = None
    if zones:
        in_lung = sum(f for _, f in grounded.zones)
        agreement = (round(sum(f for z, f in grounded.zones if z in zones) / in_lung, 4)
                     if in_lung > 0 else 0.0)
    notes = list(lungs.notes)
    if target not in named:
        notes.append(f"{', '.join(named)} mapped to the classifier's '{target}'.")
    return GroundResult(phrase, named, finding, (grounded,), zones, agreement, METHOD_CAM,
                        lungs, tuple(notes))


def heat_peak_zone(region: Region) -> str | None:
    """The zone holding the largest share of a grounded region's heatmap mass, or None."""
    return region.zones[0][0] if region.zones else None



def localise_finding(image: Image, label: str, lungs: LungResult | None = None,
                     localiser: str | None = None, score: float | None = None) -> Region | None:
    """A FINDING region for `label` from the learned localiser, or None when it does not cover
    the label (callers then fall back to Grad-CAM, labelled as such).

    The region's heatmap is the localiser's cell probabilities (stretched over the image), its
    box and mask the main component at half the peak, its zones the heat mass per lung zone
    (when `lungs` is given). `score` defaults to the peak cell probability.
    """
    import uuid

    from radlens.models.localiser import load_localiser
    from radlens.schema import RegionKind

    loc = load_localiser(localiser)
    if label not in loc.labels:
        return None
    heat = loc.heatmaps(image.pixels)[loc.labels.index(label)]
    region = Region(id=uuid.uuid4().hex, kind=RegionKind.FINDING, label=label, heatmap=heat,
                    score=float(heat.max()) if score is None else score)
    shape = (image.meta.height, image.meta.width)
    if lungs is not None:
        return ground_region(region, lungs, shape)
    _, box, _ = main_component(heat, shape)
    return replace(region, box=box)

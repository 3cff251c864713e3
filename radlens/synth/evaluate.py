"""``radlens evaluate-generator``: judge a generator by what its images do.

One run generates a pool of images and measures, against the real training and validation
images of the data spec (`radlens.synth.data`):

- **realism**: Fréchet distance (FD) and k-NN precision / recall (Kynkäänniemi et al. 2019,
  k = 3) between generated and real validation images, next to the same figures for an equal
  number of real *training* images vs real validation (the floor a perfect generator would
  reach). Features: Inception weights are not available offline, so the space is that of a
  bundled radlens network: for MedMNIST generators the global-average-pooled last feature map
  (64-d) of the bundled classifier of that dataset (``radlens-pneumoniamnist``,
  ``radlens-breastmnist``, MedViT-hybrid); for the Kermany finding generator that of the
  bundled paediatric chest classifier (``radlens-cxr-lite0``, 1280-d, images resized to its
  160-px input); for the lung-mask chest-film generator the pooled deepest
  encoder features (320-d, EfficientNet-Lite0 block 15) of the bundled lung segmenter, on the
  64-px images resized to its 256-px input;
- **usefulness** (class generators): train-on-synthetic-test-on-real: the same small CNN
  (`SmallCNN`) trained on m real training images and, separately, on m generated ones with the
  same class counts, both scored by AUC on the real validation split (mean over 3 seeds;
  more than two classes: mean one-vs-rest AUC);
- **memorisation**: for every generated image, the distance to its nearest training image in
  pixel space (RMS difference of [0, 1] pixels) and in feature space; the same for every real
  validation image; the share of each below the 1st percentile of the real-validation
  distances; optionally a PNG sheet of the closest generated / training pairs;
- **conditioning fidelity**: the bundled classifier's accuracy on the requested labels
  (with its accuracy on real validation images for reference; Kermany findings: normal vs
  pneumonia at the chest classifier's stored threshold), or the bundled segmenter's Dice
  between its lung mask of each generated film and the conditioning mask (with its Dice on the
  real validation films);
- **mask-guided augmentation** (mask generators, `radlens.synth.augment`): a small segmenter
  trained on a few real pairs alone, with warped copies of them, and with images generated
  from the same warped masks; Dice on the real validation films, gains with CIs.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from radlens.errors import DataError
from radlens.synth import metrics as gm

log = logging.getLogger(__name__)

TSTR_SEEDS = (0, 1, 2)


class SmallCNN(nn.Module):
    """The train-on-synthetic probe: three 3x3 conv / batch-norm / ReLU stages (16, 32, 64
    channels, max-pool between), global average pool, linear head. Takes (N, 1, H, W) pixels
    in [0, 1], returns class logits (N, K)."""

    def __init__(self, n_classes: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = 1
        for i, w in enumerate((16, 32, 64)):
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w),
                       nn.ReLU(inplace=True)]
            if i < 2:
                layers.append(nn.MaxPool2d(2))
            c = w
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features((x - 0.5) / 0.5).mean((2, 3)))


def train_probe(x: np.ndarray, y: np.ndarray, n_classes: int, seed: int = 0,
                epochs: int = 20, batch: int = 64) -> SmallCNN:
    """Train a `SmallCNN` on float images (N, H, W) in [0, 1] with labels (N,) (Adam 2e-3,
    `epochs` passes, no augmentation); returns it in eval mode."""
    torch.manual_seed(seed)
    net = SmallCNN(n_classes)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    xt = torch.from_numpy(np.asarray(x, np.float32))[:, None]
    yt = torch.from_numpy(np.asarray(y, np.int64))
    gen = torch.Generator().manual_seed(seed)
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(xt), generator=gen)
        for s in range(0, len(xt), batch):
            idx = order[s:s + batch]
            if len(idx) < 2:
                continue
            loss = F.cross_entropy(net(xt[idx]), yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    net.eval()
    return net


def probe_probs(net: nn.Module, x: np.ndarray) -> np.ndarray:
    """Softmax probabilities (N, K) of a probe on float images (N, H, W) in [0, 1]."""
    with torch.no_grad():
        logits = net(torch.from_numpy(np.asarray(x, np.float32))[:, None])
    out: np.ndarray = torch.softmax(logits, 1).numpy()
    return out


def stratified_labels(train_labels: np.ndarray, n: int, n_classes: int,
                      rng: np.random.Generator) -> np.ndarray:
    """`n` labels with the class proportions of `train_labels` (largest remainders),
    shuffled."""
    p = np.bincount(train_labels, minlength=n_classes) / len(train_labels)
    counts = np.floor(p * n).astype(int)
    for k in np.argsort(-(p * n - counts))[: n - counts.sum()]:
        counts[k] += 1
    labels = np.repeat(np.arange(n_classes), counts)
    rng.shuffle(labels)
    return labels


def pick_like(train_labels: np.ndarray, wanted: np.ndarray, rng: np.random.Generator
              ) -> np.ndarray:
    """Indices into `train_labels` with the same class counts as `wanted` (no repeats)."""
    out = []
    for k, c in zip(*np.unique(wanted, return_counts=True), strict=True):
        pool = np.flatnonzero(train_labels == k)
        out.append(rng.choice(pool, size=min(c, len(pool)), replace=False))
    idx = np.concatenate(out)
    rng.shuffle(idx)
    return idx


def pair_sheet(fake: np.ndarray, train: np.ndarray, pairs: list[tuple[int, int, float]],
               path: str | Path, scale: int = 3) -> Path:
    """A PNG of generated / nearest-training pairs side by side, one pair per row (closest
    first), images (N, H, W) in [0, 1] upscaled `scale` times (nearest). Returns the path."""
    from PIL import Image

    h, w = fake.shape[1:]
    gap = 4
    sheet = np.full((len(pairs) * (h + gap), 2 * w + gap), 1.0, np.float32)
    for r, (i, j, _d) in enumerate(pairs):
        y = r * (h + gap)
        sheet[y:y + h, :w] = fake[i]
        sheet[y:y + h, w + gap:] = train[j]
    img = Image.fromarray(np.round(sheet * 255).astype(np.uint8), mode="L")
    img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    img.save(p)
    return p


def memorisation(fake: np.ndarray, fake_f: np.ndarray, train: np.ndarray,
                 train_f: np.ndarray, val: np.ndarray, val_f: np.ndarray) -> dict[str, Any]:
    """Nearest-training-image distances of generated and real validation images, in pixel
    space (RMS of [0, 1] pixel differences) and feature space, with the share of each below
    the 1st percentile of the real-validation distances. Also returns the closest generated
    pairs (pixel space) under ``"pairs"`` (generated index, training index, distance)."""
    out: dict[str, Any] = {}
    d = float(np.sqrt(fake[0].size))
    spaces = {"pixel": (fake.reshape(len(fake), -1) / d, train.reshape(len(train), -1) / d,
                        val.reshape(len(val), -1) / d),
              "feature": (fake_f, train_f, val_f)}
    for name, (f, t, v) in spaces.items():
        df, jf = gm.nn_distances(f, t)
        dv, _ = gm.nn_distances(v, t)
        p1 = float(np.percentile(dv, 1))
        out[name] = {"threshold_p1_val_to_train": p1,
                     "share_generated_below": gm.share_below(df, p1),
                     "share_val_below": gm.share_below(dv, p1),
                     "median_generated_to_train": float(np.median(df)),
                     "median_val_to_train": float(np.median(dv)),
                     "min_generated_to_train": float(df.min()),
                     "min_val_to_train": float(dv.min())}
        if name == "pixel":
            order = np.argsort(df)[:8]
            out["pairs"] = [(int(i), int(jf[i]), float(df[i])) for i in order]
    return out


def realism(fake_f: np.ndarray, val_f: np.ndarray, train_f: np.ndarray,
            rng: np.random.Generator) -> dict[str, Any]:
    """FD and precision / recall of generated vs real val, and of as many real training
    images (random) vs real val (the floor)."""
    sub = train_f[rng.choice(len(train_f), size=min(len(fake_f), len(train_f)), replace=False)]
    p, r = gm.precision_recall(val_f, fake_f)
    p0, r0 = gm.precision_recall(val_f, sub)
    return {"generated_vs_val": {"fd": gm.frechet_distance(val_f, fake_f), "precision": p,
                                 "recall": r, "n_generated": len(fake_f),
                                 "n_val": len(val_f)},
            "train_vs_val_floor": {"fd": gm.frechet_distance(val_f, sub), "precision": p0,
                                   "recall": r0, "n_train": len(sub), "n_val": len(val_f)},
            "k": 3}


def _medmnist_features(loaded: Any, x: np.ndarray) -> np.ndarray:
    net = loaded.network
    feats = []
    with torch.no_grad():
        for s in range(0, len(x), 256):
            xb = torch.from_numpy(np.asarray(x[s:s + 256], np.float32))[:, None]
            fmap = net.net.feature_map((xb - net.mean) / net.std)
            feats.append(fmap.mean((2, 3)).numpy())
    return np.concatenate(feats).astype(np.float64)


def _segmenter_pass(seg: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(pooled deepest encoder features (N, 320), full-lung masks bool (N, S, S)) of the
    bundled segmenter on images (N, S, S) in [0, 1] resized to its input side."""
    net, size = seg.network, seg.size
    feats, masks = [], []
    side = x.shape[-1]
    with torch.no_grad():
        for s in range(0, len(x), 16):
            xb = torch.from_numpy(np.asarray(x[s:s + 16], np.float32))[:, None]
            xb = F.interpolate(xb, size=(size, size), mode="bilinear", align_corners=False)
            enc = net.encode(xb)
            feats.append(enc[-1].mean((2, 3)).numpy())
            prob = torch.sigmoid(net(xb))
            lung = torch.maximum(prob[:, 0], prob[:, 1])[:, None]
            lung = F.interpolate(lung, size=(side, side), mode="bilinear", align_corners=False)
            masks.append((lung[:, 0] > 0.5).numpy())
    return np.concatenate(feats).astype(np.float64), np.concatenate(masks)


def dice(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dice per image of bool masks (N, H, W); 1 where both are empty."""
    inter = (a & b).sum((1, 2))
    tot = a.sum((1, 2)) + b.sum((1, 2))
    return np.where(tot > 0, 2 * inter / np.maximum(tot, 1), 1.0)


def evaluate(model: str, spec: str, n: int = 0, steps: int | None = None,
             guidance: float | None = None, tstr_n: int = 1000, seed: int = 0,
             sheet: str | Path | None = None, cache_dir: str | Path | None = None,
             augment_real: int = 25, augment_steps: int = 300) -> dict[str, Any]:
    """Evaluate generator `model` on data `spec` (module docstring); returns a JSON-ready
    report. `n`: generated images (default: the validation count, at most 512); `tstr_n`:
    images per train-on-synthetic arm (at most `n`); `sheet`: PNG path for the closest pairs;
    `cache_dir`: where decoded chest films are cached; `augment_real`: real pairs in the
    mask-guided augmentation experiment (0: skip it), `augment_steps`: its training steps per
    segmenter. `DataError` when the data does not fit
    the generator (conditioning, labels, side)."""
    from radlens.synth import data as gd
    from radlens.synth.model import load_generator, sample

    gen = load_generator(model)
    cache = None if cache_dir is None else Path(cache_dir) / "cache"
    data = gd.load(spec, gen.size, cache, progress=gen.conditioning == "class")
    if data.conditioning != gen.conditioning or data.side != gen.size:
        raise DataError(f"the data is {data.conditioning}-conditioned at {data.side} px; the "
                        f"generator is {gen.conditioning}-conditioned at {gen.size} px", spec)
    if gen.conditioning == "class" and tuple(data.labels) != gen.labels:
        raise DataError(f"the data's labels ({', '.join(data.labels)}) are not the "
                        f"generator's ({', '.join(gen.labels)})", spec)
    rng = np.random.default_rng(seed)
    train = data.train_images.astype(np.float32) / 255.0
    val = data.val_images.astype(np.float32) / 255.0
    n_gen = n or min(512, len(val))
    steps = int(steps or gen.default_steps)
    report: dict[str, Any] = {"model": gen.name, "model_sha256": gen.sha256, "data": spec,
                              "n_generated": n_gen, "steps": steps, "seed": seed,
                              "n_train": len(train), "n_val": len(val)}
    if gen.conditioning == "class":
        assert data.train_labels is not None and data.val_labels is not None
        k = len(gen.labels)
        labels = stratified_labels(data.train_labels, n_gen, k, rng)
        g = gen.guidance if guidance is None else float(guidance)
        report["guidance"] = g
        w0, c0 = time.perf_counter(), time.process_time()
        fake = sample(gen, n_gen, labels=labels.tolist(), steps=steps, seed=seed, guidance=g)
        report["sampling"] = _timing(w0, c0, n_gen)
        report.update(_class_figures(data, gen, fake, labels, train, val, rng, tstr_n, seed))
    else:
        assert data.val_masks is not None
        idx = np.arange(n_gen) % len(val)
        cond = data.val_masks[idx]
        w0, c0 = time.perf_counter(), time.process_time()
        fake = sample(gen, n_gen, masks=cond, steps=steps, seed=seed)
        report["sampling"] = _timing(w0, c0, n_gen)
        report.update(_mask_figures(data, fake, cond, train, val, rng))
        if augment_real > 0:
            from radlens.synth.augment import mask_guided_augmentation

            assert data.train_masks is not None
            report["mask_guided_augmentation"] = mask_guided_augmentation(
                train, data.train_masks, val, data.val_masks,
                lambda masks, s: sample(gen, len(masks), masks=masks, steps=steps,
                                        seed=seed + 100 + s),
                n_real=augment_real, steps=augment_steps)
    pairs = report["memorisation"].pop("pairs")
    report["memorisation"]["closest_pairs"] = [
        {"generated": i, "train": j, "pixel_rms": d} for i, j, d in pairs]
    if sheet:
        report["memorisation"]["sheet"] = str(pair_sheet(fake, train, pairs, sheet))
    return report


def _timing(w0: float, c0: float, n: int) -> dict[str, Any]:
    return {"seconds_per_image_wall": (time.perf_counter() - w0) / n,
            "seconds_per_image_cpu": (time.process_time() - c0) / n,
            "threads": torch.get_num_threads()}


def _class_figures(data: Any, gen: Any, fake: np.ndarray, labels: np.ndarray,
                   train: np.ndarray, val: np.ndarray, rng: np.random.Generator, tstr_n: int,
                   seed: int) -> dict[str, Any]:
    from radlens.metrics import medmnist as mm
    from radlens.synth.data import kermany_table

    judge = _cxr_judge if data.dataset == kermany_table()["dataset"] else _medmnist_judge
    described, feats, fidelity, task = judge(data, gen, fake, labels, train, val)
    out: dict[str, Any] = {"features": described}
    out["realism"] = realism(feats["fake"], feats["val"], feats["train"], rng)
    out["memorisation"] = memorisation(fake, feats["fake"], train, feats["train"], val,
                                       feats["val"])
    out["conditioning_fidelity"] = fidelity
    assert data.val_labels is not None and data.train_labels is not None
    m = min(tstr_n, len(fake))
    real_idx = pick_like(data.train_labels, labels[:m], rng)
    k = len(gen.labels)
    aucs: dict[str, list[float]] = {"real": [], "synthetic": []}
    for s in TSTR_SEEDS:
        for arm, (x, y) in {"real": (train[real_idx], data.train_labels[real_idx]),
                            "synthetic": (fake[:m], labels[:m])}.items():
            net = train_probe(x, y, k, seed=seed * 100 + s)
            aucs[arm].append(float(mm.auc(data.val_labels, probe_probs(net, val), task)))
    real_auc, syn_auc = float(np.mean(aucs["real"])), float(np.mean(aucs["synthetic"]))
    out["train_on_synthetic"] = {
        "probe": "SmallCNN (3 conv stages 16-32-64, 20 epochs Adam 2e-3, no augmentation)",
        "images_per_arm": m, "seeds": list(TSTR_SEEDS),
        "auc_real": real_auc, "auc_synthetic": syn_auc,
        "auc": "binary AUC of the last class" if task == "binary-class" else
               f"mean one-vs-rest AUC over the {k} classes",
        "auc_real_per_seed": aucs["real"], "auc_synthetic_per_seed": aucs["synthetic"],
        "ratio": syn_auc / real_auc if real_auc > 0 else None,
        "tested_on": f"real val ({len(val)} images)"}
    return out


Judged = tuple[str, dict[str, np.ndarray], dict[str, Any], str]


def _medmnist_judge(data: Any, gen: Any, fake: np.ndarray, labels: np.ndarray,
                    train: np.ndarray, val: np.ndarray) -> Judged:
    """(feature description, features of fake / train / val, conditioning fidelity, MedMNIST
    task type) from the bundled classifier ``radlens-<dataset>`` on 28-px images in [0, 1]."""
    from radlens.metrics import medmnist as mm
    from radlens.models import medmnist

    clf = medmnist.load(f"radlens-{data.dataset}")
    task = clf.task_type
    feats = {name: _medmnist_features(clf, x) for name, x in
             (("fake", fake), ("train", train), ("val", val))}
    pred = mm.predictions(clf.predict(fake[:, None]), task)
    real_pred = mm.predictions(clf.predict(val[:, None]), task)
    fidelity = {
        "classifier": clf.name,
        "accuracy_on_generated": float((pred == labels).mean()),
        "per_label": {lab: float((pred[labels == i] == i).mean()) if (labels == i).any()
                      else None for i, lab in enumerate(gen.labels)},
        "accuracy_on_real_val": float((real_pred == data.val_labels).mean())}
    return (f"{clf.name} (MedViT-hybrid) global-average-pooled last feature map, 64-d",
            feats, fidelity, task)


def cxr_pass(loaded: Any, x: np.ndarray, batch: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """(global-average-pooled last feature map (N, C) float64, calibrated probabilities
    (N, L)) of a bundled chest classifier (`radlens.models.registry.load`) on grey images
    (N, S, S) in [0, 1], air dark, resized whole to its input side (bilinear, antialiased)."""
    from radlens.tasks.batched import forward

    feats, probs = [], []
    side = (loaded.size, loaded.size)
    for s in range(0, len(x), batch):
        xb = torch.from_numpy(np.asarray(x[s:s + batch], np.float32))[:, None]
        xb = F.interpolate(xb, size=side, mode="bilinear", align_corners=False,
                           antialias=True).clamp(0, 1)
        fmap, p, _ = forward(loaded, xb)
        feats.append(fmap.mean((2, 3)).float().numpy())
        probs.append(p)
    return np.concatenate(feats).astype(np.float64), np.concatenate(probs)


def _cxr_judge(data: Any, gen: Any, fake: np.ndarray, labels: np.ndarray,
               train: np.ndarray, val: np.ndarray) -> Judged:
    """The `_medmnist_judge` figures for Kermany chest films from the bundled paediatric chest
    classifier of ``kermany.json``: its pooled features, and fidelity as normal vs pneumonia
    (the finding the classifier has) called at its stored threshold."""
    from radlens.metrics.classification import auroc, threshold_youden
    from radlens.models.registry import load
    from radlens.synth.data import kermany_table

    spec = kermany_table()["classifier"]
    clf = load(spec["name"])
    j, pop = clf.labels.index(spec["label"]), spec["population"]
    thr = clf.threshold(spec["label"], population=pop)
    feats, score = {}, {}
    for name, x in (("fake", fake), ("train", train), ("val", val)):
        feats[name], probs = cxr_pass(clf, x)
        score[name] = clf.population_probabilities(probs, pop)[:, j]
    wants = np.array([bool(c["pneumonia"]) for c in kermany_table()["classes"]])
    ok = (score["fake"] >= thr) == wants[labels]
    ok_real = (score["val"] >= thr) == wants[data.val_labels]
    pos = [n for n, w in zip(gen.labels, wants, strict=True) if w]
    # the stored threshold was fitted at full resolution: refit on real films at this side
    thr64 = threshold_youden(wants[data.train_labels].astype(float), score["train"])
    ok64 = (score["fake"] >= thr64) == wants[labels]
    ok64_real = (score["val"] >= thr64) == wants[data.val_labels]
    kind = clf.card["thresholds"][spec["label"]].get("default", "youden")
    fidelity = {
        "classifier": clf.info.name, "label": spec["label"], "threshold": thr,
        "threshold_kind": kind,
        "definition": f"{clf.info.name}'s calibrated {spec['label']} probability on the image "
                      f"resized to {clf.size} px, called at its stored {kind} threshold "
                      f"({thr:.4f}; {pop} thresholds where the card has them): a generated "
                      f"image of class {', '.join(repr(n) for n in pos)} counts as recovered "
                      f"when called {spec['label']}, any other class when not; bacterial vs "
                      "viral is not checked (the classifier has no such label)",
        "accuracy_on_generated": float(ok.mean()),
        "per_label": _per_label(ok, labels, gen.labels),
        "accuracy_on_real_val": float(ok_real.mean()),
        "per_label_real_val": _per_label(ok_real, data.val_labels, gen.labels),
        "auroc_real_val": auroc(wants[data.val_labels].astype(float), score["val"]),
        "at_side_threshold": {
            "threshold": thr64,
            "fitted_on": f"real training films at {data.side} px (Youden), not validation",
            "accuracy_on_generated": float(ok64.mean()),
            "per_label": _per_label(ok64, labels, gen.labels),
            "accuracy_on_real_val": float(ok64_real.mean()),
            "per_label_real_val": _per_label(ok64_real, data.val_labels, gen.labels)},
        "real_val_note": "the validation patients are the classifier's own held-out Kermany "
                         "patients (same split), but its threshold and calibration were fitted "
                         "on that validation set at its full input resolution; on films "
                         "reduced to the generator's side and enlarged again it calls more "
                         "normal films Pneumonia: compare each class with its "
                         "per_label_real_val figure, not with 1, or use at_side_threshold"}
    c = feats["fake"].shape[1]
    described = (f"{clf.info.name} (EfficientNet-Lite0) global-average-pooled last feature "
                 f"map, {c}-d, images resized to {clf.size} px; few images for {c}-d: FD is "
                 "biased upward, compare it only with the floor beside it")
    return described, feats, fidelity, "binary-class" if len(gen.labels) == 2 else "multi-class"


def _per_label(ok: np.ndarray, labels: np.ndarray, names: tuple[str, ...]
               ) -> dict[str, float | None]:
    """Share of True in bool `ok` (N,) per class of `labels` (N,) (None: class absent)."""
    return {n: float(ok[labels == i].mean()) if (labels == i).any() else None
            for i, n in enumerate(names)}


def _mask_figures(data: Any, fake: np.ndarray, cond: np.ndarray, train: np.ndarray,
                  val: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
    from radlens.models.segmenter import load_segmenter

    seg = load_segmenter()
    f_fake, m_fake = _segmenter_pass(seg, fake)
    f_train, _ = _segmenter_pass(seg, train)
    f_val, m_val = _segmenter_pass(seg, val)
    out: dict[str, Any] = {"features": f"{seg.info.name} encoder (EfficientNet-Lite0 block 15) "
                                       "global-average-pooled, 320-d, images resized to "
                                       f"{seg.size} px"}
    out["realism"] = realism(f_fake, f_val, f_train, rng)
    out["realism"]["note"] = ("few images: FD in 320-d from this many vectors is biased "
                              "upward; compare it only with the floor beside it")
    out["memorisation"] = memorisation(fake, f_fake, train, f_train, val, f_val)
    assert data.val_masks is not None
    d_fake, d_real = dice(m_fake, cond), dice(m_val, data.val_masks)
    out["conditioning_fidelity"] = {
        "segmenter": seg.info.name,
        "dice_generated_vs_condition_mean": float(d_fake.mean()),
        "dice_generated_vs_condition_median": float(np.median(d_fake)),
        "dice_real_val_vs_expert_mean": float(d_real.mean()),
        "definition": "segmenter's full-lung-field mask (both sides, p > 0.5) at the "
                      "generator's side vs the conditioning (expert) mask"}
    return out


def format_report(r: dict[str, Any]) -> str:
    """The report as a few readable lines."""
    lines = [f"{r['model']} on {r['data']}: {r['n_generated']} generated images, "
             f"{r['steps']} DDIM steps"]
    s = r["sampling"]
    lines.append(f"  sampling: {s['seconds_per_image_wall']:.3f} s/image wall, "
                 f"{s['seconds_per_image_cpu']:.3f} s/image CPU ({s['threads']} threads)")
    g, f = r["realism"]["generated_vs_val"], r["realism"]["train_vs_val_floor"]
    lines.append(f"  realism ({r['features']}):")
    lines.append(f"    generated vs val: FD {g['fd']:.3f}, precision {g['precision']:.3f}, "
                 f"recall {g['recall']:.3f}")
    lines.append(f"    train vs val (floor): FD {f['fd']:.3f}, precision {f['precision']:.3f}, "
                 f"recall {f['recall']:.3f}")
    if "train_on_synthetic" in r:
        t = r["train_on_synthetic"]
        ratio = "n/a" if t["ratio"] is None else f"{t['ratio']:.3f}"
        lines.append(f"  train-on-synthetic ({t['images_per_arm']} images per arm): AUC real "
                     f"{t['auc_real']:.3f}, synthetic {t['auc_synthetic']:.3f}, "
                     f"ratio {ratio}")
    m = r["memorisation"]
    for space in ("pixel", "feature"):
        x = m[space]
        lines.append(f"  memorisation ({space}): below the val 1st percentile: generated "
                     f"{x['share_generated_below']:.3f}, real val {x['share_val_below']:.3f}; "
                     f"median NN distance generated {x['median_generated_to_train']:.4f}, "
                     f"val {x['median_val_to_train']:.4f}")
    if "sheet" in m:
        lines.append(f"  closest pairs: {m['sheet']}")
    c = r["conditioning_fidelity"]
    if "accuracy_on_generated" in c:
        lines.append(f"  conditioning fidelity ({c['classifier']}): "
                     f"{c['accuracy_on_generated']:.3f} of generated images get the "
                     f"requested label (real val accuracy {c['accuracy_on_real_val']:.3f})")
        if "at_side_threshold" in c:
            t = c["at_side_threshold"]
            lines.append(f"    at a threshold refit at the generator's side "
                         f"({t['threshold']:.4f}): {t['accuracy_on_generated']:.3f} (real val "
                         f"{t['accuracy_on_real_val']:.3f}); real-val AUROC "
                         f"{c['auroc_real_val']:.3f}")
    else:
        lines.append(f"  conditioning fidelity ({c['segmenter']}): Dice "
                     f"{c['dice_generated_vs_condition_mean']:.3f} generated vs condition "
                     f"(real val vs expert {c['dice_real_val_vs_expert_mean']:.3f})")
    if "mask_guided_augmentation" in r:
        a = r["mask_guided_augmentation"]
        lines.append(f"  mask-guided augmentation ({a['n_real']} real pairs, "
                     f"{a['added_pairs']} added, {len(a['seeds'])} seeds, Dice on "
                     f"{a['n_val']} real validation films):")
        for arm, d in a["dice"].items():
            gain = a["gain_over_real"].get(arm)
            extra = (f", gain {gain['mean']:+.4f} [{gain['ci95'][0]:+.4f}, "
                     f"{gain['ci95'][1]:+.4f}]") if gain else ""
            lines.append(f"    {arm}: {d['mean']:.4f}{extra}")
        v = a["generated_vs_warped_real"]
        lines.append(f"    generated minus warped real: {v['mean']:+.4f} "
                     f"[{v['ci95'][0]:+.4f}, {v['ci95'][1]:+.4f}]")
        if "ceiling_all_real" in a:
            c = a["ceiling_all_real"]
            lines.append(f"    all {c['n']} real pairs (ceiling): {c['dice_mean']:.4f}")
    return "\n".join(lines)

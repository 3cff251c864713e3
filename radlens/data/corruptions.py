"""Acquisition corruptions of the MedMNIST-C benchmark, in numpy / scipy / Pillow.

The families and their five severities per modality live in ``corruptions.json`` (values
from MedMNIST-C, Di Salvo et al. 2024): chest X-ray and organ CT (pixelate, JPEG, Gaussian /
speckle / impulse / shot noise, Gaussian blur, brightness and contrast up/down, gamma up/down),
breast ultrasound (pixelate, JPEG, speckle noise, motion blur, brightness up/down, contrast
down) and fundus photographs (pixelate, JPEG, Gaussian and speckle noise, defocus and motion
blur, brightness down, contrast down). The code is radlens's own (no ImageMagick, no OpenCV).

Image convention: (H, W) grey or (H, W, 3) RGB, either uint8 (0-255) or float in [0, 1]; the
result has the input's shape and dtype and stays in its range. Any size works: the spatial
parameters (blur kernel sizes and radii) are MedMNIST-C's at 224 px and are scaled by
``min(H, W) / 224``, so a 28-px image is corrupted as a 224-px MedMNIST-C image would look
downsized and a full-resolution chest film as it would look upsized (Gaussian blur of a 28-px
image is therefore nearly invisible, as it is in a downsized 224-px image); per-pixel noise
and intensity changes are applied at the native resolution. Randomness (noise, the motion
direction) comes only from `seed`, so a call is deterministic.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
from scipy import ndimage, signal

from radlens.errors import DataError

SEVERITIES = (1, 2, 3, 4, 5)


@cache
def _table() -> dict[str, Any]:
    text = resources.files("radlens.data").joinpath("corruptions.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def modalities() -> tuple[str, ...]:
    """Modalities with corruption families (keys of ``corruptions.json``)."""
    return tuple(_table()["modalities"])


def families(modality: str) -> tuple[str, ...]:
    """The corruption families of `modality` (empty for a modality without any, e.g. 3-D)."""
    return tuple(_table()["modalities"].get(modality, {}))


def parameter(family: str, severity: int, modality: str) -> Any:
    """MedMNIST-C's parameter of `family` at `severity` (1-5) for `modality` (at 224 px)."""
    table = _table()["modalities"]
    if modality not in table:
        raise DataError(f"no corruptions for modality {modality!r}; known: "
                        f"{', '.join(table)}", modality)
    if family not in table[modality]:
        raise DataError(f"corruption {family!r} is not defined for {modality}; choose one of "
                        f"{', '.join(table[modality])}", family)
    if severity not in SEVERITIES:
        raise DataError(f"severity must be 1-5, got {severity}", family)
    return table[modality][family][severity - 1]


def _to_float(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    if not np.issubdtype(image.dtype, np.floating):
        raise DataError(f"images must be uint8 or float in [0, 1], got {image.dtype}", "image")
    return np.clip(image.astype(np.float32), 0.0, 1.0)


def _back(out: np.ndarray, like: np.ndarray) -> np.ndarray:
    out = np.clip(out, 0.0, 1.0)
    if like.dtype == np.uint8:
        return np.asarray(np.round(out * 255.0), dtype=np.uint8)
    return out.astype(like.dtype)


def _pil(x: np.ndarray) -> Any:
    from PIL import Image

    return Image.fromarray(np.asarray(np.round(x * 255.0), dtype=np.uint8))


def _from_pil(im: Any) -> np.ndarray:
    return np.asarray(im, dtype=np.float32) / 255.0


def _per_channel(x: np.ndarray, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    if x.ndim == 2:
        return fn(x)
    return np.stack([fn(x[..., c]) for c in range(x.shape[-1])], axis=-1)


def _scale(x: np.ndarray) -> float:
    return float(min(x.shape[:2])) / float(_table()["reference_side"])


# --- the families: f(x float [0, 1], parameter, rng, scale) -> float ---------------------

def pixelate(x: np.ndarray, factor: float, rng: np.random.Generator, scale: float) -> np.ndarray:
    """Box-downsize to `factor` of the side, then box-upsize back (PIL BOX both ways)."""
    from PIL import Image

    h, w = x.shape[:2]
    small = (max(1, int(w * factor)), max(1, int(h * factor)))
    im = _pil(x).resize(small, Image.Resampling.BOX).resize((w, h), Image.Resampling.BOX)
    return _from_pil(im)


def jpeg_compression(x: np.ndarray, quality: int, rng: np.random.Generator,
                     scale: float) -> np.ndarray:
    """Encode and decode as JPEG at `quality` (Pillow)."""
    from PIL import Image

    buf = io.BytesIO()
    _pil(x).save(buf, "JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as im:
        return _from_pil(im.convert("L" if x.ndim == 2 else "RGB"))


def gaussian_noise(x: np.ndarray, sigma: float, rng: np.random.Generator,
                   scale: float) -> np.ndarray:
    """Additive Gaussian noise of standard deviation `sigma` (in [0, 1] units)."""
    return x + rng.normal(0.0, sigma, x.shape).astype(np.float32)


def speckle_noise(x: np.ndarray, sigma: float, rng: np.random.Generator,
                  scale: float) -> np.ndarray:
    """Multiplicative noise: x + x * N(0, sigma)."""
    return x + x * rng.normal(0.0, sigma, x.shape).astype(np.float32)


def impulse_noise(x: np.ndarray, amount: float, rng: np.random.Generator,
                  scale: float) -> np.ndarray:
    """Salt-and-pepper: a fraction `amount` of the values set to 0 or 1 (half each)."""
    u = rng.random(x.shape)
    salt = rng.random(x.shape) < 0.5
    out = x.copy()
    hit = u < amount
    out[hit & salt] = 1.0
    out[hit & ~salt] = 0.0
    return out


def shot_noise(x: np.ndarray, photons: float, rng: np.random.Generator,
               scale: float) -> np.ndarray:
    """Poisson noise: Poisson(x * photons) / photons (fewer photons, more noise)."""
    return (rng.poisson(x * photons) / photons).astype(np.float32)


def gaussian_blur(x: np.ndarray, kernel: int, rng: np.random.Generator,
                  scale: float) -> np.ndarray:
    """Gaussian blur with the sigma of a `kernel`-sized kernel (torchvision's rule
    ``0.3 * ((k - 1) / 2 - 1) + 0.8``), scaled to the image side."""
    sigma = (0.3 * ((kernel - 1) * 0.5 - 1) + 0.8) * scale
    return _per_channel(x, lambda c: ndimage.gaussian_filter(c, sigma, mode="reflect"))


def _disk(radius: float, alias: float) -> np.ndarray:
    r = max(radius, 0.5)
    half = int(np.ceil(r)) + 1
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1]
    k = ((xx ** 2 + yy ** 2) <= r ** 2).astype(np.float64)
    if alias > 0:
        k = ndimage.gaussian_filter(k, alias)
    return k / k.sum()


def defocus_blur(x: np.ndarray, param: list[float], rng: np.random.Generator,
                 scale: float) -> np.ndarray:
    """Convolution with a disk of radius `param[0]` (scaled to the side), softened by a
    Gaussian of sigma `param[1]` (MedMNIST-C's alias blur)."""
    k = _disk(param[0] * scale, param[1] * max(scale, 0.1))
    pad = k.shape[0] // 2

    def one(c: np.ndarray) -> np.ndarray:
        big = np.pad(c, pad, mode="reflect")
        return np.asarray(signal.fftconvolve(big, k, mode="valid"), dtype=np.float32)

    return _per_channel(x, one)


def motion_blur(x: np.ndarray, param: list[float], rng: np.random.Generator,
                scale: float) -> np.ndarray:
    """Motion blur: a one-sided line kernel of length `param[0]` with Gaussian weights of
    sigma `param[1]` along it (both scaled to the side), in a direction drawn from
    [-45, 45] degrees (as ImageMagick's motion blur that MedMNIST-C uses)."""
    radius, sigma = param[0] * scale, max(param[1] * scale, 1e-3)
    angle = np.deg2rad(rng.uniform(-45.0, 45.0))
    length = max(1, int(np.ceil(radius)))
    steps = np.linspace(0.0, radius, max(2, min(4 * length, 256)))
    weights = np.exp(-(steps ** 2) / (2 * sigma ** 2))
    dy, dx = np.sin(angle), np.cos(angle)
    half = length + 1
    k = np.zeros((2 * half + 1, 2 * half + 1))
    for t, wt in zip(steps, weights, strict=True):  # bilinear splat of the line's points
        y, x0 = half + t * dy, half + t * dx
        iy, ix = int(np.floor(y)), int(np.floor(x0))
        fy, fx = y - iy, x0 - ix
        k[iy, ix] += wt * (1 - fy) * (1 - fx)
        k[iy + 1, ix] += wt * fy * (1 - fx)
        k[iy, ix + 1] += wt * (1 - fy) * fx
        k[iy + 1, ix + 1] += wt * fy * fx
    k /= k.sum()

    def one(c: np.ndarray) -> np.ndarray:
        big = np.pad(c, half, mode="edge")
        return np.asarray(signal.fftconvolve(big, k, mode="valid"), dtype=np.float32)

    return _per_channel(x, one)


def _brightness(x: np.ndarray, factor: float, rng: np.random.Generator,
                scale: float) -> np.ndarray:
    """Multiply the pixel values by `factor` (PIL ImageEnhance.Brightness)."""
    return x * factor


def _contrast(x: np.ndarray, factor: float, rng: np.random.Generator,
              scale: float) -> np.ndarray:
    """Blend with the mean grey level by `factor` (PIL ImageEnhance.Contrast)."""
    grey = x if x.ndim == 2 else x @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    mean = float(grey.mean())
    return mean + factor * (x - mean)


def _gamma(x: np.ndarray, gamma: float, rng: np.random.Generator, scale: float) -> np.ndarray:
    """x ** gamma (gamma > 1 darkens, < 1 brightens)."""
    return np.power(np.clip(x, 0.0, 1.0), gamma)


FAMILIES: dict[str, Callable[[np.ndarray, Any, np.random.Generator, float], np.ndarray]] = {
    "pixelate": pixelate, "jpeg_compression": jpeg_compression,
    "gaussian_noise": gaussian_noise, "speckle_noise": speckle_noise,
    "impulse_noise": impulse_noise, "shot_noise": shot_noise,
    "gaussian_blur": gaussian_blur, "defocus_blur": defocus_blur, "motion_blur": motion_blur,
    "brightness_up": _brightness, "brightness_down": _brightness,
    "contrast_up": _contrast, "contrast_down": _contrast,
    "gamma_corr_up": _gamma, "gamma_corr_down": _gamma,
}


def apply(image: np.ndarray, family: str, severity: int, modality: str = "chest-xray",
          seed: int = 0) -> np.ndarray:
    """`image` corrupted by `family` at `severity` (1-5) with `modality`'s parameters.

    `image`: (H, W) or (H, W, 3), uint8 or float in [0, 1] (see module docstring); returns
    the same shape and dtype. Deterministic for a given `seed`. `DataError` for an unknown
    family, modality or severity, or an image of another layout.
    """
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (1, 3)):
        raise DataError(f"corruptions take (H, W) or (H, W, 3) images, got {image.shape}",
                        "image")
    param = parameter(family, severity, modality)
    x = _to_float(image)
    squeeze = x.ndim == 3 and x.shape[-1] == 1
    if squeeze:
        x = x[..., 0]
    rng = np.random.default_rng(seed)
    out = FAMILIES[family](x, param, rng, _scale(x))
    if squeeze:
        out = out[..., None]
    return _back(out, image)


def apply_batch(images: np.ndarray, family: str, severity: int, modality: str,
                seed: int = 0) -> np.ndarray:
    """`apply` to each image of a batch (N, H, W) / (N, H, W, 3); image i uses seed
    ``seed * 1_000_003 + i``, so results do not depend on batch boundaries."""
    return np.stack([apply(im, family, severity, modality, seed * 1_000_003 + i)
                     for i, im in enumerate(images)]) if len(images) else images.copy()

"""Synthesis: small conditional diffusion generators, their sampling and their evaluation.

- `radlens.synth.model`: the denoiser (a `diffusers` ``UNet2DModel``), its card (task
  ``generate``), loading of bundled generators and the few-step DDIM sampler with
  classifier-free guidance;
- `radlens.synth.data`: the training arrays (MedMNIST files by class, chest films with lung
  masks at 64 px);
- `radlens.synth.metrics`: Fréchet distance, k-NN precision / recall, nearest-neighbour
  distances (plain numpy);
- `radlens.synth.evaluate`: ``radlens evaluate-generator`` (realism, train-on-synthetic,
  memorisation, conditioning fidelity).

Pixel convention everywhere: grey float32 in [0, 1], air / background dark, (N, H, W) or
(N, 1, H, W); masks are bool (H, W), True = lung. The networks work on ``2 * x - 1``.
``diffusers`` is an optional dependency (``pip install 'radlens[synth]'``), imported lazily.
"""

"""Vision-language: a CLIP-style dual encoder for zero-shot findings and image/text search.

``radlens.vlm.model.load`` loads a model (bundled name, card or run folder);
``radlens.vlm.zeroshot.classify`` scores findings from prompts; ``radlens.vlm.index`` stores
and searches embeddings; ``radlens.vlm.pairs`` and ``radlens.train.vlm`` train on image-text
pairs. Needs the optional ``vlm`` extra for the text tower (see docs/vlm.md).
"""

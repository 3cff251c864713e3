"""Renderers: overlay PNGs of heatmaps and regions over the image."""

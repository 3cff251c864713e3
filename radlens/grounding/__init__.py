"""Anatomical grounding: lung geometry (sides, boxes, zones), heatmap localisation, metrics.

Side convention everywhere in this package: "right" and "left" are the *patient's* sides. On a
PA or AP chest radiograph in standard display the patient's right is on the image's left, so
the right lung is the one with the smaller column (x) coordinates.
"""

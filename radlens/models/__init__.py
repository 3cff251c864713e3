"""Neural networks and their registry: backbones, the finding classifier, Grad-CAM."""

"""Tasks turn model outputs into schema results: classify (findings + Grad-CAM regions)."""

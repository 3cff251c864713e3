"""Training: configs, the classifier loop, calibration and export."""

"""Metrics: report-generation text metrics, clinical label metrics, classification metrics,
and the statistics (bootstrap CIs, paired tests) shared by all of them."""

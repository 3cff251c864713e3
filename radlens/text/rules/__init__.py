"""Rule data files of the report labeller (tab-separated; see docs/labeller.md)."""

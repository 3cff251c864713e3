"""Alias of benchmarks/labeler_iu.py (the labeller's accuracy vs the NegBio IU gold).

Usage: python benchmarks/labeler_accuracy.py [--split test|dev|all] [--no-peer]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from labeler_iu import main

if __name__ == "__main__":
    sys.exit(main())

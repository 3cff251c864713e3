"""``python -m radlens`` runs the command line."""

import sys

from radlens.cli.main import main

sys.exit(main())

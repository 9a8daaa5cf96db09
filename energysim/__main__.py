"""``python -m energysim``: the ``energysim`` command line."""

import sys

from energysim.cli import main

sys.exit(main())

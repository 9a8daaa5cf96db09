"""``python -m dkm``: the ``dkm`` command line."""

import sys

from dkm.cli import main

sys.exit(main())

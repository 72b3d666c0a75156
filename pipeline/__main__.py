"""``python -m pipeline``: the same as the ``dhag-pipeline`` command."""

import sys

from pipeline.cli import main

sys.exit(main())

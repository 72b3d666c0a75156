"""``python -m pipeline``: the same as the ``dhag-pipeline`` command."""

import sys

from pipeline.entry import main

sys.exit(main())

"""``python -m dhag``: the same as the ``dhag`` command."""

import sys

from dhag.cli import main

sys.exit(main())

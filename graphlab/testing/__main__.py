"""``python -m graphlab.testing FILE...``: ``graphlab test`` on its own."""

import sys

from ..cli import main_test

sys.exit(main_test())

"""``python -m gui``: the desktop editor."""

import sys

from .app import main

sys.exit(main())

"""``python -m bench``: the same as ``./dev bench``."""

import sys

from bench.run import main

sys.exit(main())

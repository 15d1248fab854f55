"""``python -m kproto_cli demo``: produce and consume through all three transports."""

from __future__ import annotations

import sys

from kproto_cli.demo import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

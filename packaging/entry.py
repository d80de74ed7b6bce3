"""The bundle's entry point: the ``hydrodiag`` command line (no arguments: the desktop app)."""

import sys

from app.cli import main

if __name__ == "__main__":
    sys.exit(main())

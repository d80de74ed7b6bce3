"""`hydrodiag diagnose` (not built yet: its issue is open)."""

from __future__ import annotations

import argparse
from typing import Any

from ingestion.errors import HydroDiagError


def _not_built(args: argparse.Namespace) -> int:
    raise HydroDiagError("`hydrodiag diagnose` is not built yet.")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("diagnose", help="(not built yet)")
    parser.set_defaults(handler=_not_built)

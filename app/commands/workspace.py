"""`hydrodiag workspace info [--json]`: what the workspace holds."""

from __future__ import annotations

import argparse
from typing import Any

from app.commands._common import open_store, workspace_path
from ingestion.errors import HydroDiagError
from ingestion.workspace_info import WorkspaceInfo, workspace_info


def format_info(info: WorkspaceInfo) -> str:
    size = f"{info.size_bytes / 1e6:.1f} MB" if info.size_bytes is not None else "in memory"
    lines = [
        f"workspace {info.path} (schema v{info.schema_version}, {size}, "
        f"{info.measurements:,} measurements)"
    ]
    if not info.equipment:
        lines.append("  no equipment yet: import data with `hydrodiag ingest uci|csv`.")
    for eq in info.equipment:
        lines.append("")
        lines.append(f"equipment {eq.id} — {eq.name} (profile {eq.profile_id})")
        if eq.problem:
            lines.append(f"  its stored profile cannot be read: {eq.problem}")
        if eq.cycles:
            lines.append(f"  cycles: {eq.cycles:,} (numbers {eq.first_cycle}..{eq.last_cycle})")
        for lab in eq.labels:
            grades = ", ".join(f"grade {g}: {n}" for g, n in sorted(lab.grades.items()))
            lines.append(
                f"  labels {lab.component_id:<6} {lab.ranges:>5} ranges ({lab.origin}; {grades})"
                f"  {lab.component_name}"
            )
        lines.append(f"  sensors ({len(eq.sensors)}):")
        for s in eq.sensors:
            flag = "" if s.in_profile else "  (not in profile)"
            gaps = f", {s.rows - s.non_null:,} gaps" if s.rows != s.non_null else ""
            lines.append(
                f"    {s.sensor_id:<10} {s.rows:>12,} rows{gaps}  {s.first_ts} .. {s.last_ts}{flag}"
            )
    if info.sources:
        lines.append("")
        lines.append("sources:")
        for src in info.sources:
            lines.append(
                f"  #{src.id} {src.kind:<4} {src.status:<9} {src.equipment_id:<10} "
                f"{src.row_count:>10,} rows {src.value_count:>12,} values  "
                f"sha256 {(src.sha256 or '-')[:12]}  {src.first_ts} .. {src.last_ts}"
            )
            lines.append(f"      {src.uri}")
            for w in src.warnings:
                lines.append(f"      warning: {w}")
    return "\n".join(lines)


def _info(args: argparse.Namespace) -> int:
    path = workspace_path(args)
    if not path.exists():
        raise HydroDiagError(
            f"{path}: no workspace there yet. Import data first (`hydrodiag ingest ...`) or "
            "point --workspace at an existing file."
        )
    with open_store(args, read_only=True) as store:
        info = workspace_info(store)
    print(info.model_dump_json(indent=2) if args.json else format_info(info))
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("workspace", help="inspect the workspace", description=__doc__)
    sub = parser.add_subparsers(dest="workspace_command", metavar="ACTION", required=True)
    p_info = sub.add_parser(
        "info", help="equipment, sources, sensors with row counts, cycles and labels"
    )
    p_info.add_argument("--json", action="store_true", help="machine-readable output")
    p_info.set_defaults(handler=_info)

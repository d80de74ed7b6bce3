"""`hydrodiag profile list|show|validate`: the shipped equipment profiles and checking your own."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ingestion.profiles import (
    EquipmentProfile,
    list_shipped_profiles,
    load_profile,
    load_profile_file,
)


def _list(args: argparse.Namespace) -> int:
    profiles = list_shipped_profiles()
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "id": p.id,
                        "name": p.name,
                        "kind": p.kind,
                        "version": p.version,
                        "components": len(p.components),
                        "sensors": len(p.sensors),
                        "connections": len(p.connections),
                    }
                    for p in profiles
                ],
                indent=2,
            )
        )
        return 0
    width = max((len(p.id) for p in profiles), default=2)
    print(f"{'ID':<{width}}  {'KIND':<16} COMP  SENS  CONN  NAME")
    for p in profiles:
        print(
            f"{p.id:<{width}}  {p.kind:<16} {len(p.components):>4}  {len(p.sensors):>4}  "
            f"{len(p.connections):>4}  {p.name}"
        )
    return 0


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def describe_profile(p: EquipmentProfile) -> str:
    lines = [f"{p.id} (version {p.version}): {p.name} — {p.kind}"]
    if p.description:
        lines.append(f"  {p.description.strip()}")
    lines.append("")
    lines.append(f"Components ({len(p.components)}):")
    for c in p.components:
        sensors = ", ".join(s.id for s in p.sensors_of(c.id)) or "no sensor"
        lines.append(f"  {c.id:<8} {c.type.value:<20} {c.name}  [{sensors}]")
    lines.append("")
    lines.append(f"Sensors ({len(p.sensors)}):")
    lines.append(
        f"  {'ID':<10} {'QUANTITY':<22} {'UNIT':<7} {'ON':<8} {'RATE':>7}  {'RANGE':<16} LIMITS"
    )
    for s in p.sensors:
        limits = ""
        if s.limits is not None:
            lim = s.limits
            parts = [
                f"{name} {_fmt(v)}"
                for name, v in (
                    ("warn<", lim.warning_low),
                    ("warn>", lim.warning_high),
                    ("alarm<", lim.alarm_low),
                    ("alarm>", lim.alarm_high),
                )
                if v is not None
            ]
            limits = ", ".join(parts) + (f" ({lim.debounce_s:g} s)" if lim.debounce_s else "")
        lines.append(
            f"  {s.id:<10} {s.quantity.value:<22} {s.unit:<7} {s.component:<8} "
            f"{s.rate_hz:>5g}Hz  {_fmt(s.min) + '..' + _fmt(s.max):<16} {limits}"
        )
    lines.append("")
    lines.append(f"Connections ({len(p.connections)}):")
    for conn in p.connections:
        lines.append(f"  {conn.source:<8} -> {conn.target:<8} {conn.kind.value}")
    return "\n".join(lines)


def _show(args: argparse.Namespace) -> int:
    profile = load_profile(args.profile)
    if args.json:
        print(profile.to_json())
    else:
        print(describe_profile(profile))
    return 0


def _validate(args: argparse.Namespace) -> int:
    profile = load_profile_file(Path(args.file))  # raises ProfileError listing every problem
    print(
        f"{args.file}: valid profile {profile.id!r} — {len(profile.components)} components, "
        f"{len(profile.sensors)} sensors, {len(profile.connections)} connections."
    )
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "profile", help="list, show and validate equipment profiles", description=__doc__
    )
    sub = parser.add_subparsers(dest="profile_command", metavar="ACTION", required=True)
    p_list = sub.add_parser("list", help="the shipped profiles")
    p_list.add_argument("--json", action="store_true", help="machine-readable output")
    p_list.set_defaults(handler=_list)
    p_show = sub.add_parser("show", help="components, sensors and connections of a profile")
    p_show.add_argument("profile", help="shipped profile id or a YAML/JSON file")
    p_show.add_argument("--json", action="store_true", help="the full profile as JSON")
    p_show.set_defaults(handler=_show)
    p_val = sub.add_parser("validate", help="check a profile file; lists every problem at once")
    p_val.add_argument("file", help="YAML or JSON profile")
    p_val.set_defaults(handler=_validate)

"""`hydrodiag model list|show|activate|rollback|export|import|remove`: the workspace's models.

Every model trained, fitted or imported into a workspace is stored in it with its card; one
model is active per equipment, and `diagnose` uses it. The shipped model is a built-in entry:
listed and activatable, never copied or removed. The work is :mod:`gnn.registry`'s.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.commands._common import open_store, workspace_path
from ingestion.errors import HydroDiagError

if TYPE_CHECKING:
    from gnn.registry import ActivationRecord, InUse, ModelEntry
    from ingestion.workspace import Store

CARD_NUMBERS = 16  # card metrics shown by `model show` (all of them with --json)


def _existing_store(args: argparse.Namespace, *, read_only: bool = True) -> Store:
    """The workspace, which must exist (read-only unless writing: listing must not lock it)."""
    path = workspace_path(args)
    if not path.exists():
        raise HydroDiagError(
            f"{path}: no workspace there yet. Import data first (`hydrodiag ingest ...`) or "
            "point --workspace at an existing file."
        )
    return open_store(args, read_only=read_only)


def _when(value: Any) -> str:
    return "—" if value is None else f"{value:%Y-%m-%d %H:%M}"


def _origin(entry: ModelEntry) -> str:
    return "built-in" if entry.builtin else entry.origin


def _in_use(store: Store) -> dict[str, InUse]:
    from gnn.registry import model_in_use

    equipment = [str(r[0]) for r in store.query("SELECT id FROM equipment ORDER BY id")]
    return {eq: model_in_use(store, eq) for eq in equipment}


def _users(entry: ModelEntry, uses: Mapping[str, InUse]) -> list[str]:
    return [
        f"{eq} ({'active' if use.activation else 'default'})"
        for eq, use in uses.items()
        if use.entry is not None and use.entry.key == entry.key
    ]


def _entry_json(entry: ModelEntry, uses: Mapping[str, InUse], *, card: bool) -> dict[str, Any]:
    body = entry.model_dump(mode="json", exclude=set() if card else {"card"})
    body["key"] = str(entry.key)
    body["parent"] = str(entry.parent) if entry.parent else None
    body["in_use_by"] = _users(entry, uses)
    return body


# -- list ---------------------------------------------------------------------------------------


def _list(args: argparse.Namespace) -> int:
    from gnn.registry import activation_history, list_models, model_in_use

    with _existing_store(args) as store:
        entries = list_models(store, equipment_id=args.equipment)
        uses = (
            {args.equipment: model_in_use(store, args.equipment)}
            if args.equipment
            else _in_use(store)
        )
        history = activation_history(store, args.equipment) if args.equipment else []
    if args.json:
        body: dict[str, Any] = {
            "models": [_entry_json(e, uses, card=False) for e in entries],
            "in_use": {
                eq: {
                    "model": str(u.entry.key) if u.entry else None,
                    "activated": u.activation is not None,
                }
                for eq, u in uses.items()
            },
        }
        if args.equipment:
            body["history"] = [_activation_json(a) for a in history]
        sys.stdout.write(json.dumps(body, indent=2) + "\n")
        return 0
    print(list_table(entries, uses, workspace=str(workspace_path(args)), equipment=args.equipment))
    if args.equipment:
        print(history_table(args.equipment, history))
    return 0


def list_table(
    entries: list[ModelEntry],
    uses: Mapping[str, InUse],
    *,
    workspace: str,
    equipment: str | None = None,
) -> str:
    """The models as a table, with the equipment using each."""
    stored = sum(1 for e in entries if not e.builtin)
    scope = f" made for equipment {equipment}'s profile" if equipment else ""
    lines = [f"models{scope} in {workspace} ({stored} stored, {len(entries) - stored} built in):"]
    if equipment:
        use = uses[equipment]
        if use.entry is None:
            lines.append(f"  equipment {equipment} has no model that fits its profile.")
        elif use.activation is None:
            lines.append(
                f"  equipment {equipment} uses {use.entry.label} by default (none activated)."
            )
        else:
            lines.append(
                f"  equipment {equipment} uses {use.entry.label}, activated "
                f"{_when(use.activation.activated_at)} UTC."
            )
    if not entries:
        lines.append("  none.")
        return "\n".join(lines)
    width = max(len("model"), *(len(str(e.key)) for e in entries))
    lines.append(
        f"  {'model':<{width}}  {'kind':<7}  {'origin':<8}  {'profile':<16}  "
        f"{'created (UTC)':<16}  {'sha256':<12}  in use by"
    )
    for e in entries:
        users = ", ".join(_users(e, uses)) or "—"
        lines.append(
            f"  {e.key!s:<{width}}  {e.kind:<7}  {_origin(e):<8}  {e.profile_id:<16}  "
            f"{_when(e.created_at):<16}  {e.sha256[:12]}  {users}"
        )
    return "\n".join(lines)


def _activation_json(a: ActivationRecord) -> dict[str, Any]:
    body = a.model_dump(mode="json")
    body["model"] = str(a.model)
    return body


def history_table(equipment: str, history: list[ActivationRecord]) -> str:
    lines = ["", f"activation history of {equipment} (oldest first):"]
    if not history:
        lines.append("  none: it has always used the built-in model for its profile.")
    for a in history:
        state = "in effect" if a.in_effect else f"{a.ended_by} {_when(a.ended_at)}"
        builtin = " (built-in)" if a.builtin else ""
        lines.append(
            f"  {_when(a.activated_at)}  {a.model!s}{builtin}  {a.reason or 'activated'}; {state}"
        )
    return "\n".join(lines)


# -- show ---------------------------------------------------------------------------------------


def _show(args: argparse.Namespace) -> int:
    from gnn.registry import diagnosis_count, get_model

    with _existing_store(args) as store:
        entry = get_model(store, args.model)
        uses = _in_use(store)
        n_diagnoses = diagnosis_count(store, entry)
    if args.json:
        body = _entry_json(entry, uses, card=True)
        body["diagnoses"] = n_diagnoses
        sys.stdout.write(json.dumps(body, indent=2) + "\n")
    else:
        print(show_text(entry, uses, n_diagnoses))
    return 0


def show_text(entry: ModelEntry, uses: Mapping[str, InUse], n_diagnoses: int) -> str:
    """A model's entry and the main facts of its card."""
    card = entry.card or {}
    graded = card.get("graded_components")
    kind = entry.kind + (
        f" (grades {', '.join(map(str, graded))})" if isinstance(graded, list) and graded else ""
    )
    lines = [
        f"model {entry.label}",
        f"  kind        {kind}",
        f"  origin      {_origin(entry)}"
        + (f" · parent {entry.parent}" if entry.parent else "")
        + (f" · {entry.note}" if entry.note else ""),
        f"  profile     {entry.profile_id} (graph sha256 {entry.profile_sha256[:16]}…)",
        f"  onnx        {entry.size_bytes / 1e6:.2f} MB, sha256 {entry.sha256}",
        f"  created     {_when(entry.created_at)} UTC"
        + (f" · added {_when(entry.added_at)} UTC" if entry.added_at else ""),
    ]
    if entry.path:
        lines.append(f"  file        {entry.path}")
    lines.append(f"  in use by   {', '.join(_users(entry, uses)) or 'no equipment'}")
    lines.append(f"  diagnoses   {n_diagnoses} stored in this workspace")
    if not card:
        lines.append("  card        none")
        return "\n".join(lines)
    lines.append("card:")
    for key in ("architecture", "command"):
        if isinstance(card.get(key), str):
            lines.append(f"  {key:<13} {card[key]}")
    for key in ("window", "data", "hparams", "training"):
        value = card.get(key)
        if isinstance(value, Mapping):
            lines.append(f"  {key:<13} {_short(value)}")
    numbers = _numbers(card.get("metrics", {}))
    if numbers:
        lines.append(f"  metrics       ({len(numbers)}; all with --json)")
        for name, number in list(numbers.items())[:CARD_NUMBERS]:
            lines.append(f"    {name:<48} {number:.4g}")
    return "\n".join(lines)


def _short(value: Mapping[str, Any], limit: int = 240) -> str:
    parts = [f"{k}={v}" for k, v in value.items() if isinstance(v, str | int | float | bool)]
    text = ", ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _numbers(value: Any, prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    if isinstance(value, Mapping):
        for k, v in value.items():
            out.update(_numbers(v, f"{prefix}{k}."))
    elif isinstance(value, int | float) and not isinstance(value, bool):
        out[prefix.rstrip(".")] = float(value)
    return out


# -- activate / rollback ----------------------------------------------------------------------


def _activate(args: argparse.Namespace) -> int:
    from gnn.registry import activate, model_in_use

    with _existing_store(args, read_only=False) as store:
        before = model_in_use(store, args.equipment)
        entry = activate(store, args.equipment, args.model)
    if before.entry is not None and before.entry.key == entry.key:
        if before.activation is not None:
            print(f"equipment {args.equipment} already uses {entry.label}; nothing changed.")
        else:
            print(f"equipment {args.equipment} keeps {entry.label}, now activated (was default).")
    else:
        was = f" (was {before.entry.label})" if before.entry else ""
        print(f"equipment {args.equipment} now uses {entry.label}{was}.")
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from gnn.registry import rollback

    with _existing_store(args, read_only=False) as store:
        result = rollback(store, args.equipment)
    print(
        f"equipment {args.equipment} rolled back from {result.previous.label} to "
        f"{result.current.label}."
    )
    return 0


# -- export / import --------------------------------------------------------------------------


def _export(args: argparse.Namespace) -> int:
    from gnn.model_archive import export_model

    with _existing_store(args) as store:
        written = export_model(store, args.model, args.out or Path.cwd(), overwrite=args.force)
    print(f"wrote {written} ({written.stat().st_size / 1e6:.2f} MB: model and card)")
    return 0


def _import(args: argparse.Namespace) -> int:
    from gnn.model_archive import import_model

    with _existing_store(args, read_only=False) as store:
        result = import_model(store, args.file, equipment_id=args.equipment, activate=args.activate)
    entry = result.entry
    if result.added:
        print(f"imported {entry.label} ({entry.kind}, profile {entry.profile_id}) from {args.file}")
    else:
        print(f"{entry.label} is already in this workspace (same bytes); nothing stored.")
    if result.activated:
        print(f"equipment {args.equipment} now uses {entry.label}.")
    elif not args.activate:
        target = args.equipment or "ID"
        print(f"activate it with `hydrodiag model activate {entry.key} --equipment {target}`.")
    return 0


# -- remove -------------------------------------------------------------------------------------


def _confirm(question: str) -> bool:
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def _remove(args: argparse.Namespace) -> int:
    from gnn.registry import fallback_after_removal, get_model, remove_model

    with _existing_store(args, read_only=False) as store:
        entry = get_model(store, args.model)
        fallbacks = {} if entry.builtin else fallback_after_removal(store, entry.key)
        if fallbacks and not args.yes:
            then = "; ".join(
                f"{eq} would use {fb.label if fb else 'no model (none fits its profile)'}"
                for eq, fb in fallbacks.items()
            )
            users = ", ".join(fallbacks)
            if not sys.stdin.isatty():
                raise HydroDiagError(
                    f"model {entry.key} is the active model of {users}: add --yes to remove it "
                    f"anyway ({then})."
                )
            if not _confirm(
                f"model {entry.key} is the active model of {users} ({then}). Remove it?"
            ):
                print("nothing removed.")
                return 1
        result = remove_model(store, entry.key)
    print(f"removed {result.removed.label}.")
    for eq, fb in result.fallbacks.items():
        print(
            f"equipment {eq} now uses {fb.label}."
            if fb
            else f"equipment {eq} now has no model that fits its profile."
        )
    return 0


# -- parser -------------------------------------------------------------------------------------


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "model",
        help="the workspace's models: list, show, activate, rollback, export, import, remove",
        description=__doc__,
    )
    sub = parser.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    ref_help = "model as ID@VERSION (or ID when only one version is known)"

    p = sub.add_parser("list", help="list the models (built-in and stored) and who uses them")
    p.add_argument("--equipment", "-e", help="only models for this equipment, with its history")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=_list)

    p = sub.add_parser("show", help="one model's entry and card")
    p.add_argument("model", help=ref_help)
    p.add_argument("--json", action="store_true", help="print the entry and full card as JSON")
    p.set_defaults(handler=_show)

    p = sub.add_parser("activate", help="make a model the one an equipment is diagnosed with")
    p.add_argument("model", help=ref_help)
    p.add_argument("--equipment", "-e", required=True, help="equipment id in the workspace")
    p.set_defaults(handler=_activate)

    p = sub.add_parser("rollback", help="re-activate the model an equipment used before")
    p.add_argument("--equipment", "-e", required=True, help="equipment id in the workspace")
    p.set_defaults(handler=_rollback)

    p = sub.add_parser("export", help="write a model and its card to one .hdmodel file")
    p.add_argument("model", help=ref_help)
    p.add_argument(
        "--out", type=Path, help="file or folder to write (default: ID-VERSION.hdmodel here)"
    )
    p.add_argument("--force", action="store_true", help="replace an existing file")
    p.set_defaults(handler=_export)

    p = sub.add_parser("import", help="store a model from a .hdmodel file (or a model.onnx)")
    p.add_argument("file", type=Path, help="an export file, or a model.onnx with its card.json")
    p.add_argument("--equipment", "-e", help="the equipment it is for (its profile must match)")
    p.add_argument("--activate", action="store_true", help="make it --equipment's model")
    p.set_defaults(handler=_import)

    p = sub.add_parser("remove", help="delete a stored model (built-in ones stay)")
    p.add_argument("model", help=ref_help)
    p.add_argument("--yes", "-y", action="store_true", help="remove an active model without asking")
    p.set_defaults(handler=_remove)

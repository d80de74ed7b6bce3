"""Which model an equipment uses: the workspace's model registry, the built-in models, loading.

A workspace stores every model trained, fitted or imported into it — ONNX bytes, card, lineage —
and keeps per equipment an activation history; the latest activation still in effect is the
equipment's model. Built-in models (``resources/models/*/model.onnx``) are listed and can be
activated but are never copied in or removed. An equipment with no activation in effect uses
the built-in model made for its profile. :func:`gnn.engine.diagnose` resolves its model here
(:func:`resolve_model`) unless it is given one.

Everything that writes runs in one transaction: a refused model, a failed import or a bad
activation leaves the workspace as it was. Storage is :mod:`ingestion.model_registry`; this
module adds what needs ONNX Runtime (checking bytes, built-in models, loading). No torch.

Typical use::

    entry = register_model(store, onnx_bytes, card, origin="fitted", parent=base.key)
    activate(store, "press-7", entry.key)
    active_model(store, "press-7")          # the entry diagnose will use (None: none fits)
    rollback(store, "press-7")              # back to the model before
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, NamedTuple

import duckdb

from gnn.graph import (
    DEFAULT_MODEL_NAME,
    MODEL_ENV,
    MODEL_FILE,
    GraphSpec,
    default_model_path,
    profile_sha256,
    shipped_models_dir,
)
from gnn.model_cache import MODEL_CACHE, cached_model
from gnn.runtime import LoadedModel, ModelError, ProviderChoice, load_model, load_model_bytes
from ingestion import model_registry as db
from ingestion.catalog import equipment_profile
from ingestion.model_registry import (
    ENDED_REMOVED,
    ENDED_ROLLED_BACK,
    MODEL_KINDS,
    ActivationRecord,
    ModelKey,
    ModelKind,
    ModelOrigin,
    ModelRecord,
    RegistryError,
)
from ingestion.profiles import EquipmentProfile
from ingestion.workspace import Store, utc_now

__all__ = [
    "ActivationRecord",
    "ImportResult",
    "InUse",
    "ModelEntry",
    "ModelKey",
    "ModelKind",
    "ModelOrigin",
    "NoModelError",
    "Registration",
    "RegistryError",
    "Removal",
    "Rollback",
    "activate",
    "activation_history",
    "active_model",
    "builtin_models",
    "diagnosis_count",
    "equipment_using",
    "export_model",
    "fallback_after_removal",
    "get_model",
    "import_model",
    "list_models",
    "load_entry",
    "model_bytes",
    "model_in_use",
    "next_version",
    "parse_model_ref",
    "register_model",
    "remove_model",
    "resolve_model",
    "rollback",
]

log = logging.getLogger(__name__)

ModelEntry = ModelRecord
"""A model the workspace knows (stored or built in): see :class:`ingestion.model_registry.ModelRecord`."""

STORED_ORIGINS: Final[tuple[ModelOrigin, ...]] = ("trained", "fitted", "imported")

NO_MODEL_HINT: Final = (
    "learn its normal from a stretch of its data known to be normal, no labels needed "
    "(`hydrodiag fit --equipment {equipment} --from T --to T --activate`), train one on its "
    "labelled data (`hydrodiag train --equipment {equipment} --out DIR --activate`) or import "
    "one made for its profile (`hydrodiag model import FILE --equipment {equipment} --activate`)"
)
"""What to do when no model fits an equipment; ``{equipment}`` is filled in."""


class NoModelError(ModelError):
    """No model fits the equipment's profile: none activated, and no built-in one for it."""


class Registration(NamedTuple):
    """What :func:`register_model` did: the entry, and whether it was new to the workspace
    (False: the same bytes were there already and nothing was written)."""

    entry: ModelEntry
    added: bool


class ImportResult(NamedTuple):
    """What :func:`import_model` did: the entry, whether it was new, whether it was activated."""

    entry: ModelEntry
    added: bool
    activated: bool


class InUse(NamedTuple):
    """The model an equipment uses and why: ``activation`` is the activation in effect, None
    when it uses the built-in model for its profile by default; ``entry`` is None when no
    model fits it."""

    entry: ModelEntry | None
    activation: ActivationRecord | None


class Rollback(NamedTuple):
    """The equipment's model before a :func:`rollback` and the one in effect after it."""

    previous: ModelEntry
    current: ModelEntry


class Removal(NamedTuple):
    """The removed model, and per equipment that used it the model it uses now (None: none)."""

    removed: ModelEntry
    fallbacks: dict[str, ModelEntry | None]


# -- references ------------------------------------------------------------------------------

_REF = re.compile(r"^(?P<id>[^@\s]+)(?:@(?P<version>[^@\s]+))?$")


def parse_model_ref(text: str | ModelKey) -> tuple[str, str | None]:
    """``"id@version"`` → (id, version); ``"id"`` → (id, None)."""
    if isinstance(text, ModelKey):
        return text.id, text.version
    match = _REF.match(text.strip())
    if match is None:
        raise RegistryError(
            f"{text!r} is not a model reference: write ID or ID@VERSION (see `hydrodiag model list`)."
        )
    return match["id"], match["version"]


# -- built-in models ---------------------------------------------------------------------------

_BUILTIN_LOCK = threading.Lock()
_BUILTIN_CACHE: dict[tuple[str, int, int], ModelEntry] = {}


def _builtin_files() -> list[Path]:
    """The built-in model files, the default first; ``$HYDRODIAG_MODEL`` replaces them all."""
    if os.environ.get(MODEL_ENV):
        return [default_model_path()]
    root = shipped_models_dir()
    found = sorted(root.glob(f"*/{MODEL_FILE}")) if root.is_dir() else []
    return sorted(found, key=lambda p: p.parent.name != DEFAULT_MODEL_NAME)


def _builtin_entry(path: Path) -> ModelEntry | None:
    """The entry of the built-in model at ``path`` (None, logged, when it cannot be read)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    with _BUILTIN_LOCK:
        entry = _BUILTIN_CACHE.get(key)
        if entry is None:
            try:
                model = load_model(path, provider="cpu")
            except ModelError as exc:
                log.warning("built-in model skipped: %s", exc)
                return None
            assert model.sha256 is not None
            entry = ModelRecord(
                id=model.model_id,
                version=model.model_version,
                kind=_kind(model, model.card, None),
                profile_id=model.profile_id,
                profile_sha256=model.profile_sha256,
                sha256=model.sha256,
                size_bytes=stat.st_size,
                card=model.card,
                origin="builtin",
                created_at=_created(model.card)
                or datetime.fromtimestamp(stat.st_mtime, UTC).replace(tzinfo=None),
                path=str(path),
            )
            _BUILTIN_CACHE[key] = entry
        return entry


def builtin_models() -> list[ModelEntry]:
    """The models shipped with HydroDiag (the default first), as registry entries."""
    entries = (_builtin_entry(p) for p in _builtin_files())
    return [e for e in entries if e is not None]


def _builtin(key: ModelKey) -> ModelEntry | None:
    return next((e for e in builtin_models() if e.key == key), None)


# -- reading ------------------------------------------------------------------------------------


def _graph_sha(profile: EquipmentProfile) -> str:
    return profile_sha256(GraphSpec.from_profile(profile))


def _fits(entry: ModelEntry, profile: EquipmentProfile, graph_sha: str) -> bool:
    return entry.profile_id == profile.id and entry.profile_sha256 == graph_sha


def list_models(store: Store, *, equipment_id: str | None = None) -> list[ModelEntry]:
    """Every model the workspace knows: the built-in ones, then the stored ones (oldest added
    first). With ``equipment_id``, only those made for that equipment's profile."""
    con = store.cursor()
    entries = [*builtin_models(), *db.select_models(con)]
    if equipment_id is None:
        return entries
    profile = equipment_profile(con, equipment_id)
    sha = _graph_sha(profile)
    return [e for e in entries if _fits(e, profile, sha)]


def _known_list(entries: list[ModelEntry]) -> str:
    return ", ".join(str(e.key) for e in entries) or "none"


def get_model(store: Store, ref: str | ModelKey) -> ModelEntry:
    """The model ``ref`` (``ID@VERSION``, or ``ID`` when only one version is known).

    Raises:
        RegistryError: no such model, or ``ID`` alone names several versions.
    """
    model_id, version = parse_model_ref(ref)
    con = store.cursor()
    entries = [*builtin_models(), *db.select_models(con, model_id=model_id)]
    matches = [e for e in entries if e.id == model_id and version in (None, e.version)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        known = _known_list([*builtin_models(), *db.select_models(con)])
        what = f"{model_id}@{version}" if version else model_id
        raise RegistryError(
            f"no model {what!r} in this workspace (known: {known}). See `hydrodiag model list`."
        )
    raise RegistryError(
        f"model {model_id!r} has several versions ({', '.join(e.version for e in matches)}): "
        f"name one as {model_id}@VERSION."
    )


def model_bytes(store: Store, entry: ModelEntry) -> bytes:
    """The ONNX bytes of ``entry`` (read from the workspace, or a built-in's file)."""
    if entry.builtin:
        assert entry.path is not None
        try:
            return Path(entry.path).read_bytes()
        except OSError as exc:
            raise RegistryError(f"{entry.path}: cannot read the built-in model ({exc}).") from None
    data = db.select_onnx(store.cursor(), entry.key)
    if data is None:
        raise RegistryError(f"model {entry.key} is no longer in this workspace.")
    return data


def _entry_of(con: duckdb.DuckDBPyConnection, activation: ActivationRecord) -> ModelEntry | None:
    """The model an activation names; a built-in activation follows the shipped model of that
    id when HydroDiag has been updated to another version of it."""
    if not activation.builtin:
        return db.select_model(con, activation.model)
    builtins = builtin_models()
    exact = next((e for e in builtins if e.key == activation.model), None)
    return exact or next((e for e in builtins if e.id == activation.model.id), None)


def _effective(
    con: duckdb.DuckDBPyConnection, equipment_id: str, *, skip: ModelKey | None = None
) -> tuple[ActivationRecord, ModelEntry] | None:
    """The newest activation in effect whose model is available (not ``skip``), with it."""
    for activation in reversed(db.select_activations(con, equipment_id)):
        if not activation.in_effect or activation.model == skip:
            continue
        entry = _entry_of(con, activation)
        if entry is not None:
            return activation, entry
        log.warning(
            "equipment %s: activated model %s is no longer available; using the one before",
            equipment_id,
            activation.model,
        )
    return None


def _builtin_for(profile: EquipmentProfile, graph_sha: str) -> ModelEntry | None:
    return next((e for e in builtin_models() if _fits(e, profile, graph_sha)), None)


def active_model(store: Store, equipment_id: str) -> ModelEntry | None:
    """The model ``diagnose`` uses for the equipment: its activation in effect, else the
    built-in model made for its profile; None when no model fits.

    Raises:
        EquipmentError: no such equipment.
    """
    return model_in_use(store, equipment_id).entry


def model_in_use(store: Store, equipment_id: str) -> InUse:
    """:func:`active_model` with the activation that put it there (None: by default).

    Raises:
        EquipmentError: no such equipment.
    """
    con = store.cursor()
    profile = equipment_profile(con, equipment_id)
    found = _effective(con, equipment_id)
    if found is not None:
        return InUse(found[1], found[0])
    return InUse(_builtin_for(profile, _graph_sha(profile)), None)


def diagnosis_count(store: Store, entry: ModelEntry) -> int:
    """How many diagnoses stored in the workspace this model made."""
    return db.count_diagnoses(store.cursor(), entry.key, entry.sha256)


def activation_history(store: Store, equipment_id: str) -> list[ActivationRecord]:
    """Every activation of the equipment, oldest first (ended ones say when and why)."""
    return db.select_activations(store.cursor(), equipment_id)


def equipment_using(store: Store, ref: str | ModelKey) -> list[str]:
    """The equipment whose activated model is ``ref`` (not those using a built-in by default)."""
    return db.equipment_using(store.cursor(), get_model(store, ref).key)


def next_version(store: Store, model_id: str) -> str:
    """A version of ``model_id`` not taken in this workspace: the highest known one with its
    last number raised by one ("1.0.0" for a new id)."""
    con = store.cursor()
    taken = {e.version for e in [*builtin_models(), *db.select_models(con)] if e.id == model_id}
    if not taken:
        return "1.0.0"
    numeric = [v for v in taken if re.fullmatch(r"\d+(\.\d+)*", v)]
    base = max(numeric, key=lambda v: tuple(int(p) for p in v.split("."))) if numeric else "1.0.0"
    parts = [int(p) for p in base.split(".")]
    while True:
        parts[-1] += 1
        candidate = ".".join(str(p) for p in parts)
        if candidate not in taken:
            return candidate


# -- loading ------------------------------------------------------------------------------------


def _stored_name(store: Store, key: ModelKey) -> str:
    return f"{store.path if store.path is not None else 'workspace'}#{key}"


def load_entry(
    store: Store,
    entry: ModelEntry,
    *,
    provider: ProviderChoice = "auto",
    threads: int | None = None,
) -> LoadedModel:
    """``entry`` opened in ONNX Runtime (kept in the engine's model cache)."""
    if entry.builtin:
        assert entry.path is not None
        return cached_model(entry.path, provider=provider, threads=threads)

    name = _stored_name(store, entry.key)

    def load() -> LoadedModel:
        return load_model_bytes(
            model_bytes(store, entry),
            name=name,
            card=entry.card,
            provider=provider,
            threads=threads,
        )

    # The same bytes may sit in two workspaces with other cards: key on all three.
    card = json.dumps(entry.card, sort_keys=True).encode("utf-8")
    identity = f"{name}|{entry.sha256}|{hashlib.sha256(card).hexdigest()}"
    return MODEL_CACHE.get_stored(identity, load, provider=provider, threads=threads)


def resolve_model(
    store: Store,
    equipment_id: str,
    profile: EquipmentProfile,
    *,
    provider: ProviderChoice = "auto",
    threads: int | None = None,
) -> LoadedModel:
    """The loaded model ``diagnose`` uses for the equipment (see :func:`active_model`).

    ``$HYDRODIAG_MODEL`` stands for the built-in model when no model is activated.

    Raises:
        NoModelError: none activated and no built-in model made for the equipment's profile.
        ModelError: the model cannot be opened.
    """
    con = store.cursor()
    found = _effective(con, equipment_id)
    if found is not None:
        return load_entry(store, found[1], provider=provider, threads=threads)
    if os.environ.get(MODEL_ENV):
        return cached_model(default_model_path(), provider=provider, threads=threads)
    builtin = _builtin_for(profile, _graph_sha(profile))
    if builtin is not None:
        return load_entry(store, builtin, provider=provider, threads=threads)
    shipped = builtin_models()
    made_for = (
        f"; the built-in model{'s are' if len(shipped) > 1 else ' is'} made for "
        + ", ".join(sorted({f"profile {e.profile_id!r}" for e in shipped}))
        if shipped
        else ""
    )
    raise NoModelError(
        f"no model fits equipment {equipment_id!r} (profile {profile.id!r}): none is activated "
        f"for it{made_for}. To diagnose it, " + NO_MODEL_HINT.format(equipment=equipment_id) + "."
    )


# -- writing ------------------------------------------------------------------------------------


def _kind(
    model: LoadedModel, card: Mapping[str, Any] | None, explicit: ModelKind | None
) -> ModelKind:
    """The kind given, else the card's ``kind``, else graded when the model grades anything."""
    if explicit is not None:
        return explicit
    stated = card.get("kind") if card else None
    for kind in MODEL_KINDS:
        if stated == kind:
            return kind
    return "graded" if model.graded_components else "anomaly"


def _created(card: Mapping[str, Any] | None) -> datetime | None:
    """The card's ``created_utc`` as a naive UTC datetime (None when absent or unreadable)."""
    text = card.get("created_utc") if card else None
    if not isinstance(text, str):
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _checked_bytes(data: bytes, name: str, card: Mapping[str, Any] | None) -> LoadedModel:
    """``data`` opened and checked against the contract; its graph hash and card must agree
    with its metadata."""
    model = load_model_bytes(data, name=name, card=card, provider="cpu")
    actual = profile_sha256(model.graph_spec)
    if actual != model.profile_sha256:
        raise ModelError(
            f"{name}: model {model.model_id} {model.model_version} says it was made for a graph "
            f"hashing to {model.profile_sha256[:12]}…, but the graph in its metadata hashes to "
            f"{actual[:12]}…: the file was edited. Export the model again."
        )
    if card:
        for field, value in (("model_id", model.model_id), ("model_version", model.model_version)):
            if field in card and str(card[field]) != value:
                raise ModelError(
                    f"{name}: its card says {field} {card[field]!r}, the model itself {value!r}: "
                    "the card belongs to another model. Keep each model with its own card.json."
                )
    return model


def _insert(
    con: duckdb.DuckDBPyConnection,
    model: LoadedModel,
    data: bytes,
    card: Mapping[str, Any] | None,
    *,
    origin: ModelOrigin,
    parent: ModelKey | None,
    kind: ModelKind | None,
    note: str,
    created_at: datetime | None,
    where: str,
) -> Registration:
    """Store a checked model (in the caller's transaction) unless the same bytes are there."""
    assert model.sha256 is not None
    key = ModelKey(model.model_id, model.model_version)
    builtin = _builtin(key)
    if builtin is not None:
        if builtin.sha256 == model.sha256:
            return Registration(builtin, False)
        raise RegistryError(
            f"{where}: model {key} has the id and version of a built-in model but other "
            "weights. Give it another version (`--model-version`) and export it again."
        )
    same = db.select_model_by_sha(con, model.sha256)
    if same is not None:
        return Registration(same, False)
    taken = db.select_model(con, key)
    if taken is not None:
        raise RegistryError(
            f"{where}: this workspace already holds a different model {key} (added "
            f"{taken.added_at:%Y-%m-%d %H:%M}, sha256 {taken.sha256[:12]}…). Give the new one "
            "another version (`--model-version`), or remove the old one first "
            f"(`hydrodiag model remove {key}`)."
        )
    now = utc_now()
    entry = ModelRecord(
        id=key.id,
        version=key.version,
        kind=_kind(model, card, kind),
        profile_id=model.profile_id,
        profile_sha256=model.profile_sha256,
        sha256=model.sha256,
        size_bytes=len(data),
        card=dict(card) if card is not None else None,
        parent=parent,
        origin=origin,
        created_at=created_at or _created(card) or now,
        added_at=now,
        note=note,
    )
    db.insert_model(con, entry, data)
    return Registration(entry, True)


def register_model(
    store: Store,
    onnx_bytes: bytes,
    card: Mapping[str, Any] | None = None,
    *,
    origin: ModelOrigin,
    parent: ModelKey | None = None,
    kind: ModelKind | None = None,
    note: str = "",
    created_at: datetime | None = None,
    activate_for: str | None = None,
) -> Registration:
    """Store a model made by HydroDiag in the workspace; with ``activate_for``, also make it
    that equipment's model — in the same transaction.

    The bytes must be a HydroDiag ONNX export (checked as the engine checks them); id, version,
    profile id and profile graph hash come from its metadata. ``kind`` defaults to the card's
    ``kind``, else "graded" when the model grades any component, else "anomaly"; ``created_at``
    to the card's ``created_utc``. ``parent`` names the model it was fine-tuned or refitted from.
    Registering the same bytes again writes nothing (``added`` is False).

    Raises:
        ModelError: the bytes are not a usable HydroDiag model, or its card belongs to another.
        RegistryError: a different model with this id and version is already known, or
            ``origin`` is not trained / fitted / imported.
        EquipmentError: ``activate_for`` names no equipment; RegistryError: the model was not
            made for its profile. Nothing is stored then.
    """
    if origin not in STORED_ORIGINS:
        raise RegistryError(
            f"origin {origin!r}: a stored model is {', '.join(STORED_ORIGINS)}; built-in models "
            "are never stored."
        )
    data = bytes(onnx_bytes)
    name = f"model bytes ({hashlib.sha256(data).hexdigest()[:12]}…)"
    model = _checked_bytes(data, name, card)
    where = f"model {model.model_id} {model.model_version}"
    with store.transaction() as con:
        registration = _insert(
            con,
            model,
            data,
            card,
            origin=origin,
            parent=parent,
            kind=kind,
            note=note,
            created_at=created_at,
            where=where,
        )
        if activate_for is not None:
            _activate(con, activate_for, registration.entry, reason=f"{origin} and activated")
    return registration


def _activate(
    con: duckdb.DuckDBPyConnection, equipment_id: str, entry: ModelEntry, *, reason: str
) -> bool:
    """Make ``entry`` the equipment's model (in the caller's transaction); False when it is
    already."""
    profile = equipment_profile(con, equipment_id)
    sha = _graph_sha(profile)
    if not _fits(entry, profile, sha):
        same_id = entry.profile_id == profile.id
        raise RegistryError(
            f"model {entry.label} was made for "
            + (
                f"another version of profile {entry.profile_id!r} (graph sha256 "
                f"{entry.profile_sha256[:12]}…, equipment {equipment_id!r} gives {sha[:12]}…)"
                if same_id
                else f"profile {entry.profile_id!r}, equipment {equipment_id!r} has profile "
                f"{profile.id!r}"
            )
            + f". Choose a model made for it (`hydrodiag model list --equipment {equipment_id}`)."
        )
    current = _effective(con, equipment_id)
    if current is not None and current[1].key == entry.key:
        return False
    db.insert_activation(
        con, equipment_id, entry.key, builtin=entry.builtin, at=utc_now(), reason=reason
    )
    return True


def activate(
    store: Store, equipment_id: str, ref: str | ModelKey, *, reason: str = "activated"
) -> ModelEntry:
    """Make model ``ref`` the equipment's model (a no-op when it already is); ``reason`` goes
    into the activation history.

    Raises:
        RegistryError: no such model, or it was made for another profile.
        EquipmentError: no such equipment.
    """
    entry = get_model(store, ref)
    with store.transaction() as con:
        _activate(con, equipment_id, entry, reason=reason)
    return entry


def rollback(store: Store, equipment_id: str) -> Rollback:
    """Re-activate the model the equipment used before its current one: the current activation
    ends ("rolled back") and the one before it is in effect again — or, before the first
    activation, the built-in model for its profile. Repeated, it walks further back.

    Raises:
        RegistryError: nothing to roll back to (no activation in effect, or the first one and
            no built-in model fits). Nothing changes then.
        EquipmentError: no such equipment.
    """
    with store.transaction() as con:
        profile = equipment_profile(con, equipment_id)
        sha = _graph_sha(profile)
        found = _effective(con, equipment_id)
        if found is None:
            builtin = _builtin_for(profile, sha)
            using = f"it uses {builtin.label} by default" if builtin else "it has no model"
            raise RegistryError(
                f"equipment {equipment_id!r} has no activated model to roll back: {using}. "
                f"Activate one with `hydrodiag model activate ID@VERSION --equipment {equipment_id}`."
            )
        activation, previous = found
        db.end_activation(con, activation.id, at=utc_now(), by=ENDED_ROLLED_BACK)
        after = _effective(con, equipment_id)
        current = after[1] if after is not None else _builtin_for(profile, sha)
        if current is None:
            raise RegistryError(
                f"equipment {equipment_id!r}: nothing to roll back to — {previous.label} is the "
                "first model activated for it and no built-in model fits its profile "
                f"{profile.id!r}. Activate another one instead (`hydrodiag model list "
                f"--equipment {equipment_id}`)."
            )
    return Rollback(previous, current)


def fallback_after_removal(store: Store, ref: str | ModelKey) -> dict[str, ModelEntry | None]:
    """Per equipment now using model ``ref``, the model it would use once ``ref`` is removed
    (None: none would fit). What to tell the user before :func:`remove_model`."""
    entry = get_model(store, ref)
    con = store.cursor()
    return {eq: _fallback(con, eq, entry.key) for eq in db.equipment_using(con, entry.key)}


def _fallback(
    con: duckdb.DuckDBPyConnection, equipment_id: str, key: ModelKey
) -> ModelEntry | None:
    found = _effective(con, equipment_id, skip=key)
    if found is not None:
        return found[1]
    profile = equipment_profile(con, equipment_id)
    return _builtin_for(profile, _graph_sha(profile))


def remove_model(store: Store, ref: str | ModelKey) -> Removal:
    """Delete a stored model; every equipment that used it falls back to the model it used
    before (see :func:`fallback_after_removal`). Ask the user first when it is in use.

    Raises:
        RegistryError: no such model, or a built-in one (those cannot be removed).
    """
    entry = get_model(store, ref)
    if entry.builtin:
        raise RegistryError(
            f"model {entry.label} ships with HydroDiag and cannot be removed. To stop an "
            "equipment using it, activate another model for it (`hydrodiag model activate`)."
        )
    with store.transaction() as con:
        users = db.equipment_using(con, entry.key)
        db.end_activations_of(con, entry.key, at=utc_now(), by=ENDED_REMOVED)
        db.delete_model(con, entry.key)
        fallbacks = {eq: _fallback(con, eq, entry.key) for eq in users}
    return Removal(entry, fallbacks)


# -- export / import ------------------------------------------------------------------------------


def export_model(
    store: Store, ref: str | ModelKey, path: Path | str, *, overwrite: bool = False
) -> Path:
    """Write model ``ref`` with its card to one file (``.hdmodel``) that :func:`import_model`
    reads back; ``path`` may be a folder. Returns the file written."""
    entry = get_model(store, ref)
    return db.write_archive(
        Path(path), entry, model_bytes(store, entry), exported_at=utc_now(), overwrite=overwrite
    )


def _read_import(file: Path) -> tuple[bytes, dict[str, Any] | None, db.ArchiveManifest | None]:
    """(ONNX bytes, card, manifest) of an export file — or of a plain model.onnx with the
    card.json beside it."""
    if db.is_archive(file):
        archive = db.read_archive(file)
        return archive.onnx, archive.card, archive.manifest
    if not file.is_file():
        raise RegistryError(
            f"{file}: file does not exist." if not file.exists() else f"{file}: not a file."
        )
    from gnn.runtime import read_model_card

    try:
        data = file.read_bytes()
    except OSError as exc:
        raise RegistryError(f"{file}: cannot read it ({exc}).") from None
    return data, read_model_card(file), None


def import_model(
    store: Store,
    path: Path | str,
    *,
    equipment_id: str | None = None,
    activate: bool = False,
) -> ImportResult:
    """Store the model of an export file (or a HydroDiag model.onnx with its card.json) in the
    workspace, and with ``activate`` make it ``equipment_id``'s model — all or nothing.

    The model must be made for the profile of ``equipment_id`` (or, without it, of some
    equipment in the workspace). Importing a model the workspace holds already stores nothing.

    Raises:
        RegistryError / ModelError: a damaged or foreign file, a model for another profile, or
            one that clashes with a different model of the same id and version; naming the file.
    """
    file = Path(path).expanduser()
    if activate and equipment_id is None:
        raise RegistryError(f"{file}: say which equipment to activate it for (--equipment ID).")
    data, card, manifest = _read_import(file)
    try:
        model = _checked_bytes(data, str(file), card)
    except ModelError as exc:
        if manifest is None:
            raise ModelError(
                f"{exc} It is neither a HydroDiag model export ({db.ARCHIVE_SUFFIX}) nor a "
                "HydroDiag model.onnx."
            ) from None
        raise
    if manifest is not None:
        said = (manifest.id, manifest.version, manifest.profile_id, manifest.profile_sha256)
        got = (model.model_id, model.model_version, model.profile_id, model.profile_sha256)
        if said != got:
            raise RegistryError(
                f"{file}: its manifest describes model {manifest.id}@{manifest.version} for "
                f"profile {manifest.profile_id!r}, but the model inside is "
                f"{model.model_id}@{model.model_version} for {model.profile_id!r}: the file was "
                "edited. Export it again with `hydrodiag model export`."
            )
    con = store.cursor()
    _check_import_profile(con, file, model, equipment_id)
    note = f"imported from {file.absolute()}"
    if manifest is not None and manifest.origin != "imported":
        note += f" ({manifest.origin} model)"
    with store.transaction() as tx:
        registration = _insert(
            tx,
            model,
            data,
            card,
            origin="imported",
            parent=manifest.parent if manifest else None,
            kind=manifest.kind if manifest else None,
            note=note,
            created_at=manifest.created_at if manifest else None,
            where=str(file),
        )
        activated = False
        if activate and equipment_id is not None:
            activated = _activate(
                tx, equipment_id, registration.entry, reason="imported and activated"
            )
    return ImportResult(registration.entry, registration.added, activated)


def _check_import_profile(
    con: duckdb.DuckDBPyConnection, file: Path, model: LoadedModel, equipment_id: str | None
) -> None:
    """Refuse a model that no equipment of the workspace (or not ``equipment_id``) can use."""
    what = f"{file}: model {model.model_id}@{model.model_version} was made for profile {model.profile_id!r}"
    if equipment_id is not None:
        profile = equipment_profile(con, equipment_id)
        if profile.id != model.profile_id:
            raise RegistryError(
                f"{what}, equipment {equipment_id!r} has profile {profile.id!r}. Import it for "
                "equipment of that profile, or fit / train a model for this one."
            )
        sha = _graph_sha(profile)
        if sha != model.profile_sha256:
            raise RegistryError(
                f"{what} as it was then (graph sha256 {model.profile_sha256[:12]}…); equipment "
                f"{equipment_id!r}'s profile gives {sha[:12]}…: its components, sensors or "
                "connections changed since. Retrain or refit the model for this profile."
            )
        return
    rows = con.execute("SELECT id FROM equipment ORDER BY id").fetchall()
    profiles = {str(r[0]): equipment_profile(con, str(r[0])) for r in rows}
    if any(
        p.id == model.profile_id and _graph_sha(p) == model.profile_sha256
        for p in profiles.values()
    ):
        return
    held = ", ".join(f"{eq} ({p.id})" for eq, p in profiles.items()) or "none yet"
    raise RegistryError(
        f"{what}, and no equipment in this workspace has that profile (equipment: {held}). "
        "Import data for such equipment first, or name the equipment with --equipment."
    )

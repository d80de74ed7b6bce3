"""Labelled windows for training and evaluation, and the blocked cross-validation splits.

Two ways in, one result (:class:`LabelledWindows`): a folder in the UCI cycle layout
(:func:`from_uci_folder`), or a workspace's equipment with its labelled cycles
(:func:`from_workspace`, through ``ingestion.queries``). Either way the arrays are per sensor
``[windows, T]`` in the sensor's unit; :func:`gnn.graph.build_inputs` turns them into tensors.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ingestion.errors import HydroDiagError
from ingestion.profiles import EquipmentProfile

# Neighbouring cycles are strongly correlated (slow oil temperature drift, conditions change in
# runs): validation folds are made of whole contiguous blocks of this many windows.
BLOCK_SIZE = 100


@dataclass(frozen=True)
class DataSource:
    """Where training data came from, for the model card."""

    kind: str  # "uci-folder" or "workspace"
    path: str
    sha256: str  # of the files' bytes (UCI: every file, sorted by name) or of the workspace file
    detail: str = ""


@dataclass(frozen=True, eq=False)
class LabelledWindows:
    """Windows in time order with per-component grades (-1 where unknown)."""

    values: dict[str, np.ndarray]  # sensor id -> float [W, T], in the sensor's unit
    grades: dict[str, np.ndarray]  # component id -> int64 [W], -1 = not labelled
    fault_types: dict[str, str]  # component id -> the fault type its grade > 0 means
    window_ids: np.ndarray  # int64 [W]: cycle numbers (UCI: original numbering)
    sources: tuple[DataSource, ...] = field(default=())
    stable: np.ndarray | None = None  # bool [W] where known

    @property
    def n_windows(self) -> int:
        return len(self.window_ids)

    @property
    def length(self) -> int:
        return int(next(iter(self.values.values())).shape[1])

    @property
    def graded_components(self) -> tuple[str, ...]:
        return tuple(self.grades)

    def subset(self, index: np.ndarray) -> LabelledWindows:
        return LabelledWindows(
            values={k: v[index] for k, v in self.values.items()},
            grades={k: v[index] for k, v in self.grades.items()},
            fault_types=dict(self.fault_types),
            window_ids=self.window_ids[index],
            sources=self.sources,
            stable=None if self.stable is None else self.stable[index],
        )


def sha256_of_files(paths: Sequence[Path]) -> str:
    """One digest over several files (sorted by name, each prefixed with its name)."""
    digest = hashlib.sha256()
    for path in sorted(paths, key=lambda p: p.name):
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def from_uci_folder(path: Path) -> LabelledWindows:
    """Every cycle of a UCI-layout folder (1 Hz: 60 samples per cycle) with its grades."""
    from ingestion.uci import UCI_TARGETS, read_uci_folder

    data = read_uci_folder(Path(path))
    values: dict[str, np.ndarray] = {}
    for sensor_id, array in data.sensors.items():
        per_second = array.shape[1] / data.cycle_duration_s
        if per_second > 1:  # the original 10/100 Hz files: average each second, as the 1 Hz copy
            k = round(per_second)
            array = array.reshape(array.shape[0], -1, k).mean(axis=2)
        values[sensor_id] = array
    grades = {c: g.astype(np.int64) for c, g in data.grades().items()}
    if not grades:
        raise HydroDiagError(
            f"{path}: no profile.txt with condition labels; training and evaluation need it."
        )
    files = [p for p in Path(path).iterdir() if p.suffix == ".txt" and p.is_file()]
    source = DataSource(
        kind="uci-folder",
        path=str(Path(path).resolve()),
        sha256=sha256_of_files(files),
        detail=f"{data.n_cycles} cycles, {len(values)} sensors",
    )
    return LabelledWindows(
        values=values,
        grades=grades,
        fault_types={t.component_id: t.fault_type for t in UCI_TARGETS},
        window_ids=np.asarray(data.cycle_numbers, dtype=np.int64),
        sources=(source,),
        stable=data.stable,
    )


def blocked_folds(
    n_windows: int, n_folds: int = 5, block_size: int = BLOCK_SIZE
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Grouped k-fold over contiguous blocks of ``block_size`` windows (in time order).

    Block ``b`` (windows ``b*block_size ..``) goes to fold ``b % n_folds``: every fold is
    validated on whole blocks it never saw, spread over the whole recording so that each fold
    sees every operating regime (a fold of only the first hour would also test extrapolation
    in time, which the withheld blocks of the UCI data do not).

    Returns:
        ``[(train_index, val_index), ...]``, one pair per fold.
    """
    blocks = np.arange(n_windows) // block_size
    n_blocks = int(blocks.max()) + 1 if n_windows else 0
    if n_blocks < n_folds:
        raise HydroDiagError(
            f"{n_windows} windows make {n_blocks} block(s) of {block_size}; blocked "
            f"{n_folds}-fold validation needs at least {n_folds} blocks. Use fewer folds or "
            "a smaller --block-size."
        )
    fold_of_block = np.arange(n_blocks) % n_folds
    fold = fold_of_block[blocks]
    return [(np.flatnonzero(fold != k), np.flatnonzero(fold == k)) for k in range(n_folds)]


def validation_blocks(
    n_windows: int, fraction: float = 0.15, block_size: int = BLOCK_SIZE, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A blocked train/validation split for early stopping: whole blocks held out."""
    blocks = np.arange(n_windows) // block_size
    n_blocks = int(blocks.max()) + 1
    n_val = max(1, round(fraction * n_blocks))
    if n_blocks < 2:
        # too little data for whole blocks: hold out the last fraction instead
        cut = int(n_windows * (1 - fraction))
        return np.arange(cut), np.arange(cut, n_windows)
    rng = np.random.default_rng(seed)
    val_blocks = rng.choice(n_blocks, size=min(n_val, n_blocks - 1), replace=False)
    is_val = np.isin(blocks, val_blocks)
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def batches(
    n: int, batch_size: int, *, rng: np.random.Generator | None = None
) -> Iterator[np.ndarray]:
    """Index batches over ``range(n)``, shuffled when ``rng`` is given."""
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for lo in range(0, n, batch_size):
        yield order[lo : lo + batch_size]


def grade_matrix(windows: LabelledWindows, node_ids: Sequence[str]) -> np.ndarray:
    """int64 [W, N]: the grade of each node in each window, -1 where not labelled."""
    out = np.full((windows.n_windows, len(node_ids)), -1, dtype=np.int64)
    for j, node in enumerate(node_ids):
        if node in windows.grades:
            out[:, j] = windows.grades[node]
    return out


def fault_matrix(
    windows: LabelledWindows, node_ids: Sequence[str], fault_types: Sequence[str]
) -> np.ndarray:
    """float32 [W, N, K]: 1 where the node is labelled with the fault (grade > 0), else 0.

    Nodes without labels count as free of every fault (on the UCI rig only the four graded
    components were varied); a labelled node is free of the faults other components own.
    """
    out = np.zeros((windows.n_windows, len(node_ids), len(fault_types)), dtype=np.float32)
    for j, node in enumerate(node_ids):
        fault = windows.fault_types.get(node)
        if fault is None or fault not in fault_types or node not in windows.grades:
            continue
        k = list(fault_types).index(fault)
        out[:, j, k] = (windows.grades[node] > 0).astype(np.float32)
    return out


def concat_values(parts: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    keys = set.intersection(*(set(p) for p in parts)) if parts else set()
    return {k: np.concatenate([p[k] for p in parts]) for k in sorted(keys)}


def from_workspace(
    workspace: Path, equipment_id: str, *, rate_hz: float = 1.0
) -> tuple[LabelledWindows, EquipmentProfile]:
    """Every labelled cycle of ``equipment_id`` in a workspace, plus the equipment's profile.

    Windows come from ``ingestion.queries.cycle_windows`` (one per cycle, resampled to
    ``rate_hz``); grades from the workspace's labels (the label range holding each window's
    midpoint). Fault types are read from the labels too.
    """
    from ingestion.queries import cycle_labels, cycle_windows
    from ingestion.store import open_workspace
    from ingestion.workspace import equipment_exists, equipment_profile

    store = open_workspace(workspace, read_only=True)
    try:
        con = store.cursor()
        if not equipment_exists(con, equipment_id):
            raise HydroDiagError(
                f"{workspace}: no equipment {equipment_id!r}. Import data for it first "
                "(`hydrodiag ingest uci DIR --equipment ...`) or pick another --equipment."
            )
        profile = equipment_profile(con, equipment_id)
        windows = cycle_windows(store, equipment_id, profile.sensor_ids, rate_hz=rate_hz)
        if windows.count == 0:
            raise HydroDiagError(
                f"{workspace}: equipment {equipment_id!r} has no cycles to train on."
            )
        grades = cycle_labels(store, equipment_id, windows)
        faults = dict(
            con.execute(
                "SELECT component_id, any_value(fault_type) FROM labels "
                "WHERE equipment_id = ? AND fault_type IS NOT NULL GROUP BY 1",
                [equipment_id],
            ).fetchall()
        )
    finally:
        store.close()
    if not any((g >= 0).any() for g in grades.values()):
        raise HydroDiagError(
            f"{workspace}: equipment {equipment_id!r} has no labelled cycles; training needs "
            "condition labels (from a data set's profile.txt or from inspections)."
        )
    order = np.argsort(
        windows.cycle_numbers if windows.cycle_numbers is not None else windows.starts
    )
    source = DataSource(
        kind="workspace",
        path=str(Path(workspace).resolve()),
        sha256=sha256_of_files([Path(workspace)]),
        detail=f"equipment {equipment_id}, {windows.count} cycles at {rate_hz:g} Hz",
    )
    data = LabelledWindows(
        values={k: np.asarray(v, dtype=np.float64) for k, v in windows.values.items()},
        grades=grades,
        fault_types={str(k): str(v) for k, v in faults.items()},
        window_ids=np.asarray(
            windows.cycle_numbers
            if windows.cycle_numbers is not None
            else np.arange(windows.count),
            dtype=np.int64,
        ),
        sources=(source,),
    )
    return data.subset(order), profile

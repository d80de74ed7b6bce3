"""Labelled windows for training and evaluation, and the blocked cross-validation splits.

Two ways in, one result (:class:`LabelledWindows`): a folder in the UCI cycle layout
(:func:`from_uci_folder`), or a workspace's equipment with its labelled cycles
(:func:`from_workspace`, through ``ingestion.queries``). Either way the arrays are per sensor
``[windows, T]`` in the sensor's unit; :func:`gnn.graph.build_inputs` turns them into tensors.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ingestion.errors import HydroDiagError
from ingestion.profiles import EquipmentProfile

if TYPE_CHECKING:
    from ingestion.queries import Windows
    from ingestion.workspace import Store

# Neighbouring cycles are strongly correlated (slow oil temperature drift, conditions change in
# runs): validation folds are made of whole contiguous blocks of this many windows.
BLOCK_SIZE = 100
# Sliding windows of a continuous log: the reference rig's cycle length by default.
DEFAULT_WINDOW_S = 60.0
# A training window needs at least this share of its samples present.
MIN_VALID_FRACTION = 0.5
# float64 values [windows, T] per sensor held for training: 2**28 are 2 GiB.
MAX_TRAINING_VALUES = 2**28


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
    rate_hz: float = 1.0  # samples per second of every window
    stride_s: float | None = None  # seconds between sliding windows; None: one per cycle

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
            rate_hz=self.rate_hz,
            stride_s=self.stride_s,
        )


def from_uci_folder(path: Path) -> LabelledWindows:
    """Every cycle of a UCI-layout folder, or an archive of one (1 Hz: 60 samples per cycle),
    with its grades."""
    from ingestion.uci import UCI_TARGETS, folder_digest, read_uci_folder
    from ingestion.uci_archive import uci_folder

    with uci_folder(path) as folder:
        data = read_uci_folder(folder)
        digest = folder_digest(folder, data.sensors)
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
    source = DataSource(
        kind="uci-folder",
        path=str(Path(path).resolve()),
        sha256=digest,
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


def condition_runs(grades: np.ndarray) -> np.ndarray:
    """Run number of every window: runs are the maximal stretches of consecutive windows (in
    time order) with the same grade of one component, numbered from 0.

    A gap in the window ids does not end a run: the same condition on both sides of it may be
    one run whose middle is missing (the UCI copy's withheld blocks), and holding both parts
    out together is the cautious reading.
    """
    g = np.asarray(grades)
    if not g.size:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([[0], np.cumsum(g[1:] != g[:-1])]).astype(np.int64)


def run_folds(
    grades: np.ndarray, n_folds: int | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Leave-one-run-out: fold ``k`` validates run ``k`` (:func:`condition_runs` of
    ``grades``) and trains on every other run; with ``n_folds``, run ``r`` goes to fold
    ``r % n_folds`` instead (several runs per fold, fewer trainings).

    Neighbouring windows of one run share the run's regime (oil temperature, the conditions
    of the other components, drift), so blocks cut out of a run are easy to grade from the
    rest of it; a whole run held out is what a new run of the machine is.

    Raises:
        HydroDiagError: with fewer than two runs, or fewer runs than ``n_folds``.
    """
    runs = condition_runs(grades)
    n_runs = int(runs.max()) + 1 if runs.size else 0
    folds = n_runs if n_folds is None else n_folds
    if n_runs < 2 or folds < 2 or n_runs < folds:
        raise HydroDiagError(
            f"the labels form {n_runs} run(s) of constant condition; leave-one-run-out "
            f"validation needs at least {max(2, folds)}. Use --scheme blocked, or choose the "
            "component whose runs define the folds with --runs-of."
        )
    fold = runs % folds
    return [(np.flatnonzero(fold != k), np.flatnonzero(fold == k)) for k in range(folds)]


def runs_component(windows: LabelledWindows) -> str:
    """The component whose runs define leave-one-run-out folds by default: among those whose
    every grade occurs in at least two runs (holding one out must leave the grade in
    training), the one with the longest runs — the slowest-changing condition, whose runs
    carry the most regime with them (the accumulator of the reference rig: 12 runs of
    63-333 cycles; the cooler has one run per grade, the pump and valve change every 10-50).

    Raises:
        HydroDiagError: if no component qualifies.
    """
    best, best_length = "", 0.0
    for component, grades in windows.grades.items():
        known = grades[grades >= 0]
        runs = condition_runs(known)
        if known.size == 0 or runs.max() < 1:
            continue
        first = np.concatenate([[True], runs[1:] != runs[:-1]])
        per_grade = np.bincount(known[first], minlength=1)
        if (per_grade[np.unique(known)] < 2).any():
            continue
        length = known.size / (int(runs.max()) + 1)
        if length > best_length:
            best, best_length = component, length
    if not best:
        raise HydroDiagError(
            "no component's grades occur in two or more runs each, so no run can be held out "
            "without leaving its grade unseen; use --scheme blocked."
        )
    return best


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
    workspace: Path,
    equipment_id: str,
    *,
    rate_hz: float = 1.0,
    window_s: float | None = None,
    stride_s: float | None = None,
    min_valid: float = MIN_VALID_FRACTION,
) -> tuple[LabelledWindows, EquipmentProfile]:
    """The labelled windows of ``equipment_id`` in a workspace, plus the equipment's profile.

    An equipment whose data comes in load cycles gives one window per cycle
    (``ingestion.queries.cycle_windows``) unless ``window_s`` is given. A continuous log (or
    any equipment with ``window_s``) gives sliding windows of ``window_s`` seconds (default
    60) every ``stride_s`` seconds (default ``window_s``: back to back) over the labelled part
    of its data (``ingestion.queries.sliding_windows``). Either way every sensor is resampled
    to ``rate_hz``, and a window takes the grade of the label range holding its midpoint.

    Windows without any label, or with less than ``min_valid`` of their samples present
    (counting the sensors that have data at all; a sensor the equipment never logged is
    masked everywhere), are left out. Fault types are read from the labels too.

    Raises:
        HydroDiagError: unknown equipment, no labels, no data under the labels, or a window /
            stride that is not a whole number of samples at ``rate_hz``.
    """
    from ingestion.catalog import equipment_exists, equipment_profile
    from ingestion.cycles import equipment_has_cycles
    from ingestion.digests import file_sha256
    from ingestion.queries import cycle_labels, cycle_windows, labelled_time_range
    from ingestion.workspace import open_workspace

    if window_s is None and stride_s is not None:
        raise HydroDiagError("a stride needs a window length: give --window SECONDS too.")
    store = open_workspace(workspace, read_only=True)
    try:
        con = store.cursor()
        if not equipment_exists(con, equipment_id):
            raise HydroDiagError(
                f"{workspace}: no equipment {equipment_id!r}. Import data for it first "
                "(`hydrodiag ingest uci DIR --equipment ...`) or pick another --equipment."
            )
        profile = equipment_profile(con, equipment_id)
        labelled = labelled_time_range(store, equipment_id)
        if labelled is None:
            raise HydroDiagError(
                f"{workspace}: equipment {equipment_id!r} has no condition labels; training "
                "needs them (a data set's profile.txt, or `hydrodiag ingest labels FILE`)."
            )
        stride: float | None = None  # sliding windows only
        if window_s is None and equipment_has_cycles(store, equipment_id):
            windows = cycle_windows(store, equipment_id, profile.sensor_ids, rate_hz=rate_hz)
            kind = "cycles"
        else:
            length = DEFAULT_WINDOW_S if window_s is None else window_s
            stride = length if stride_s is None else stride_s
            windows = _labelled_sliding_windows(
                store, workspace, equipment_id, profile, labelled, length, stride, rate_hz
            )
            kind = f"sliding windows of {length:g} s every {stride:g} s"
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
    keep = _usable_windows(windows.values, grades, min_valid)
    if not keep.any():
        raise HydroDiagError(
            f"{workspace}: none of equipment {equipment_id!r}'s {windows.count} "
            f"{'cycles' if kind == 'cycles' else 'windows'} has both a condition label and at "
            f"least {min_valid:.0%} of its samples; check that the labels' time ranges cover "
            "the measurements (`hydrodiag workspace info`)."
        )
    order = np.flatnonzero(keep)
    ids = windows.cycle_numbers if windows.cycle_numbers is not None else np.arange(windows.count)
    order = order[np.argsort(ids[order], kind="stable")]
    dropped = windows.count - len(order)
    source = DataSource(
        kind="workspace",
        path=str(Path(workspace).resolve()),
        sha256=file_sha256(Path(workspace)),
        detail=f"equipment {equipment_id}, {len(order)} {kind} at {rate_hz:g} Hz"
        + (f" ({dropped} without a label or with too little data left out)" if dropped else ""),
    )
    data = LabelledWindows(
        values={k: np.asarray(v, dtype=np.float64) for k, v in windows.values.items()},
        grades=grades,
        fault_types={str(k): str(v) for k, v in faults.items()},
        window_ids=np.asarray(ids, dtype=np.int64),
        sources=(source,),
        rate_hz=rate_hz,
        stride_s=stride,
    )
    return data.subset(order), profile


def _labelled_sliding_windows(
    store: Store,
    workspace: Path,
    equipment_id: str,
    profile: EquipmentProfile,
    labelled: tuple[np.datetime64, np.datetime64],
    length_s: float,
    stride_s: float,
    rate_hz: float,
) -> Windows:
    """Sliding windows over the part of a continuous log that the labels cover.

    Raises:
        HydroDiagError: no measurements, or windows that are not a whole number of samples
            or would not fit in memory.
    """
    from ingestion.queries import equipment_time_range, sliding_windows

    span = equipment_time_range(store, equipment_id)
    if span is None:
        raise HydroDiagError(
            f"{workspace}: equipment {equipment_id!r} has no measurements to train on."
        )
    _check_whole_samples(length_s, stride_s, rate_hz)
    start = max(labelled[0], span[0])
    # the last sample's bucket ends 1/rate after it
    end = min(labelled[1], span[1] + np.timedelta64(round(1e6 / rate_hz), "us"))
    _check_window_budget(start, end, length_s, stride_s, rate_hz, len(profile.sensor_ids))
    return sliding_windows(
        store,
        equipment_id,
        profile.sensor_ids,
        start=start,
        end=max(start, end),
        length_s=length_s,
        stride_s=stride_s,
        rate_hz=rate_hz,
    )


def _usable_windows(
    values: Mapping[str, np.ndarray], grades: Mapping[str, np.ndarray], min_valid: float
) -> np.ndarray:
    """bool [W]: windows with a label for some component and enough samples present."""
    n = len(next(iter(values.values()))) if values else 0
    labelled = np.zeros(n, dtype=bool)
    for g in grades.values():
        labelled |= g >= 0
    logged = [v for v in values.values() if np.isfinite(v).any()]
    if not logged:
        return np.zeros(n, dtype=bool)
    present = sum(np.isfinite(v).mean(axis=1) for v in logged) / len(logged)
    return np.asarray(labelled & (present >= min_valid))


def _check_whole_samples(length_s: float, stride_s: float, rate_hz: float) -> None:
    if not rate_hz > 0:
        raise HydroDiagError(f"--rate {rate_hz:g}: give a sampling rate above 0 Hz.")
    for option, seconds in (("--window", length_s), ("--stride", stride_s)):
        n = seconds * rate_hz
        if n < 1 or abs(n - round(n)) > 1e-9:
            raise HydroDiagError(
                f"{option} {seconds:g}: at {rate_hz:g} Hz that is {n:g} samples; give a "
                f"whole number of samples (a multiple of {1 / rate_hz:g} s)."
            )


def _check_window_budget(
    start: np.datetime64,
    end: np.datetime64,
    length_s: float,
    stride_s: float,
    rate_hz: float,
    n_sensors: int,
) -> None:
    """Refuse, before querying, a window set too large to hold in memory."""
    span_s = max(0.0, float((end - start) / np.timedelta64(1, "s")))
    n_windows = 0 if span_s < length_s or stride_s <= 0 else (span_s - length_s) // stride_s + 1
    values = n_windows * length_s * rate_hz * n_sensors
    if values > MAX_TRAINING_VALUES:
        raise HydroDiagError(
            f"{int(n_windows):,} windows of {length_s:g} s at {rate_hz:g} Hz over "
            f"{span_s / 3600:.1f} labelled hours would hold {values / 1e6:,.0f} M values "
            f"(at most {MAX_TRAINING_VALUES / 1e6:,.0f} M fit in memory): use a longer "
            "--stride or a lower --rate."
        )

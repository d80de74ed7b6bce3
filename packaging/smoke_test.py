"""Smoke test of a built bundle (``python3 dev.py bundle`` runs it): the bundle is copied into a
read-only folder whose path has spaces and non-ASCII letters, and every step runs from a
temporary folder with no checkout around it and no Python on the path.

Steps: --version; demo --no-gui; simulate + ingest csv of a small log; diagnose --json; report
(a PDF with the expected pages); the GUI opens offscreen, paints its main window and quits;
then the bad cases: no writable data folder, and a missing CUDA library (simulated). Prints a
table, the bundle's size per part and its cold start to first paint, and writes
``tests/benchmarks/results/bundle_smoke.json``.

    python packaging/smoke_test.py dist/HydroDiag [--build-seconds S]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pypdf import PdfReader

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "tests" / "benchmarks" / "results"
# What a report holds for an equipment with one diagnosis (cover, summary, components,
# recommendations, data, appendix); fewer pages means a section went missing.
MIN_REPORT_PAGES = 4
COLD_STARTS = 3

# Size of the bundle per part: the first matching prefix of a path inside _internal/.
PARTS = (
    ("Qt (PySide6, shiboken6)", ("PySide6", "shiboken6", "libQt6", "libicu")),
    ("ONNX Runtime", ("onnxruntime",)),
    ("DuckDB", ("_duckdb", "duckdb")),
    ("numpy", ("numpy",)),
    ("pyarrow", ("pyarrow",)),
    ("pyqtgraph", ("pyqtgraph",)),
    ("pydantic", ("pydantic",)),
    ("ours (resources, docs)", ("resources", "docs")),
    ("Python (interpreter, standard library)", ("libpython", "base_library", "python3", "lib-dynload")),
)  # fmt: skip


class StepFailedError(Exception):
    pass


def _size(path: Path) -> int:
    if path.is_file() or path.is_symlink():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def sizes(bundle: Path) -> dict[str, float]:
    """MB per part; the executable (with the archive of every pure-Python module) on its own."""
    internal = bundle / "_internal"
    out: dict[str, float] = {name: 0.0 for name, _ in PARTS}
    out["executable (all pure-Python modules, ours included)"] = 0.0
    out["other shared libraries"] = 0.0
    for entry in bundle.iterdir():
        if entry.name != "_internal":
            out["executable (all pure-Python modules, ours included)"] += _size(entry) / 1e6
    for entry in internal.iterdir():
        part = next(
            (name for name, prefixes in PARTS if entry.name.startswith(prefixes)),
            "other shared libraries",
        )
        out[part] += _size(entry) / 1e6
    out["total"] = _size(bundle) / 1e6
    return {k: round(v, 1) for k, v in out.items()}


def _env(data: Path, **extra: str) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "SYSTEMROOT", "TEMP", "TMP", "USERPROFILE")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p
    )
    env.update({"HYDRODIAG_DATA_DIR": str(data), "QT_QPA_PLATFORM": "offscreen", **extra})
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", type=Path, help="the built one-folder bundle (dist/HydroDiag)")
    parser.add_argument("--build-seconds", type=float, default=None, help="for the JSON")
    args = parser.parse_args(argv)
    bundle = args.bundle.resolve()
    exe_name = "hydrodiag.exe" if os.name == "nt" else "hydrodiag"
    if not (bundle / exe_name).exists():
        print(f"error: no {exe_name} in {bundle}; build it with `python3 dev.py bundle`")
        return 1

    results: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="hydrodiag-smoke-") as tmp:
        root = Path(tmp)
        install = root / "Programme HydroDiag – Prüfstand"  # spaces, a dash, umlauts
        shutil.copytree(bundle, install, symlinks=True)
        exe = install / exe_name
        _read_only(install)
        before = _listing(install)
        work = root / "work folder"
        work.mkdir()
        data = root / "Daten ü"

        def run(
            name: str, args: list[str], check: Callable[[subprocess.CompletedProcess[str]], str],
            **env_extra: str,
        ) -> subprocess.CompletedProcess[str]:  # fmt: skip
            started = time.perf_counter()
            proc = subprocess.run(
                [str(exe), *args], cwd=work, env=_env(data, **env_extra),
                capture_output=True, text=True, timeout=600,
            )  # fmt: skip
            seconds = time.perf_counter() - started
            try:
                detail = check(proc)
                ok = True
            except (StepFailedError, AssertionError, ValueError, KeyError) as exc:
                detail = (
                    f"{exc}\n--- stdout\n{proc.stdout[-2000:]}\n--- stderr\n{proc.stderr[-3000:]}"
                )
                ok = False
            results.append({"step": name, "ok": ok, "seconds": round(seconds, 2), "detail": detail})
            print(
                f"{'ok ' if ok else 'FAIL'} {name:<44} {seconds:6.2f} s  {detail.splitlines()[0] if detail else ''}",
                flush=True,
            )
            return proc

        def expect(proc: subprocess.CompletedProcess[str], code: int = 0) -> None:
            if proc.returncode != code:
                raise StepFailedError(f"exit code {proc.returncode}, expected {code}")
            if "Traceback" in proc.stderr or "Traceback" in proc.stdout:
                raise StepFailedError("a traceback reached the user")

        def version(proc: subprocess.CompletedProcess[str]) -> str:
            expect(proc)
            assert proc.stdout.startswith("hydrodiag "), proc.stdout
            return proc.stdout.strip()

        def demo(proc: subprocess.CompletedProcess[str]) -> str:
            expect(proc)
            assert "diagnoses:" in proc.stdout and (data / "demo.duckdb").exists()
            return proc.stdout.splitlines()[0][:90]

        def plain(proc: subprocess.CompletedProcess[str]) -> str:
            expect(proc)
            return (proc.stdout.strip().splitlines() or [""])[-1][:90]

        def diagnosis(proc: subprocess.CompletedProcess[str]) -> str:
            expect(proc)
            body = json.loads(proc.stdout)
            graded = [c for c in body["components"] if c.get("grade") is not None]
            assert graded, "no graded component in the diagnosis"
            return f"{len(graded)} graded components, provider {body['provider']}"

        def report(proc: subprocess.CompletedProcess[str]) -> str:
            expect(proc)
            pages = len(PdfReader(work / "report.pdf").pages)
            if pages < MIN_REPORT_PAGES:
                raise StepFailedError(f"the report has {pages} pages, expected {MIN_REPORT_PAGES}+")
            return f"report.pdf, {pages} pages"

        def gui(proc: subprocess.CompletedProcess[str]) -> str:
            expect(proc)
            assert "HydroDiag window" in proc.stdout and "first paint at" in proc.stdout
            return next(ln for ln in proc.stdout.splitlines() if "HydroDiag window" in ln)[:90]

        def refused(proc: subprocess.CompletedProcess[str]) -> str:
            expect(proc, 1)
            first = proc.stderr.strip().splitlines()[0]
            # a sentence about the data folder, not a bug report (an ImportError passed here once)
            assert first.startswith("error: ") and "internal error" not in first, proc.stderr
            assert "not a folder" in first, f"the refusal does not name the data folder: {first}"
            return first[:90]

        run("--version", ["--version"], version)
        run("demo --no-gui", ["demo", "--no-gui"], demo)
        run("simulate a 20-minute log", ["simulate", "--scenario", "pump-leak", "--duration",
            "20m", "--out", "log.csv", "--seed", "1"], plain)  # fmt: skip
        run("ingest csv", ["--workspace", "ws.duckdb", "ingest", "csv", "log.csv", "--equipment",
            "rig", "--profile", "zema-test-rig"], plain)  # fmt: skip
        run("diagnose --json", ["--workspace", "ws.duckdb", "diagnose", "--equipment", "rig",
            "--json"], diagnosis)  # fmt: skip
        run("report", ["--workspace", "ws.duckdb", "report", "--equipment", "rig", "--latest",
            "--out", "report.pdf", "--customer", "Smoke test GmbH"], report)  # fmt: skip
        paints = []
        for _ in range(COLD_STARTS):
            started = time.time()
            proc = run("GUI opens, paints, quits", ["--workspace", str(data / "demo.duckdb")],
                       gui, HYDRODIAG_GUI_SMOKE="1.0")  # fmt: skip
            line = next((ln for ln in proc.stdout.splitlines() if "first paint at" in ln), None)
            if line is not None:
                paints.append(float(line.rsplit(" ", 1)[1]) - started)
        # a data folder that cannot be made (a file stands where its parent should be: this
        # holds for root too, whom permissions do not stop)
        blocker = root / "not a folder"
        blocker.write_text("")
        run("no writable data folder", ["demo", "--no-gui"], refused,
            HYDRODIAG_DATA_DIR=str(blocker / "HydroDiag"))  # fmt: skip
        run("missing CUDA library (simulated)", ["--workspace", "ws.duckdb", "diagnose",
            "--equipment", "rig", "--provider", "cuda"], _cuda_note(plain),
            HYDRODIAG_SIMULATE_MISSING_CUDA="cudnn")  # fmt: skip
        unchanged = _listing(install) == before
        results.append({"step": "install folder unchanged", "ok": unchanged, "seconds": 0.0,
                        "detail": "" if unchanged else "the bundle wrote into its install folder"})  # fmt: skip
        print(f"{'ok ' if unchanged else 'FAIL'} install folder unchanged", flush=True)
        _writable(install)

    part_sizes = sizes(bundle)
    failed = [r["step"] for r in results if not r["ok"]]
    print("\nbundle size per part (MB, unpacked):")
    for name, mb in part_sizes.items():
        print(f"  {name:<52} {mb:8.1f}")
    if paints:
        print(
            f"cold start to first paint (median of {len(paints)}): {statistics.median(paints):.2f} s"
        )
    if args.build_seconds is not None:
        print(f"build time: {args.build_seconds:.0f} s")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bundle_smoke.json").write_text(
        json.dumps(
            {
                "steps": results,
                "sizes_mb": part_sizes,
                "cold_start_to_first_paint_s": paints,
                "build_seconds": args.build_seconds,
            },
            indent=2,
        )
    )
    for r in results:
        if not r["ok"]:
            print(f"\n--- {r['step']} failed:\n{r['detail']}")
    return 1 if failed else 0


def _cuda_note(check: Callable[[subprocess.CompletedProcess[str]], str]) -> Callable[
    [subprocess.CompletedProcess[str]], str
]:  # fmt: skip
    def inner(proc: subprocess.CompletedProcess[str]) -> str:
        check(proc)
        text = proc.stdout + proc.stderr
        line = next((ln for ln in text.splitlines() if "CPU" in ln and "CUDA" in ln), None)
        if line is None:
            raise StepFailedError("no sentence saying why CUDA is not used")
        return line.strip()[:90]

    return inner


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file's size and modification time: a bundle must never write where it is installed
    (the read-only bits alone do not stop root)."""
    return {
        str(p.relative_to(folder)): (p.lstat().st_size, p.lstat().st_mtime_ns)
        for p in folder.rglob("*")
    }


def _read_only(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            mode = path.stat().st_mode
            path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _writable(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | stat.S_IWUSR)


if __name__ == "__main__":
    sys.exit(main())

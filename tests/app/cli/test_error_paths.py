"""Every sub-command's error path ends in a sentence, never a traceback: a real bad input per
sub-command (exit 1, the file/option named), and an unexpected exception inside each handler
(exit 1, one sentence, the path of a log file holding the traceback). The list of sub-commands
is read from the parser, so a new one without a case here fails the test."""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from app.cli import build_parser, main

REPO = Path(__file__).resolve().parents[3]
Setup = Callable[[Path, pytest.MonkeyPatch], list[str]]


def subcommands() -> dict[str, tuple[str, str]]:
    """'ingest csv' -> (module, handler function name), from the parser itself."""
    found: dict[str, tuple[str, str]] = {}

    def walk(parser: argparse.ArgumentParser, prefix: list[str]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, [*prefix, name])
                return
        handler = parser.get_default("handler")
        found[" ".join(prefix)] = (handler.__module__, handler.__name__)

    walk(build_parser(), [])
    return found


def foreign(tmp: Path) -> Path:
    path = tmp / "erp.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE invoices (id INTEGER)")
    con.close()
    return path


def _ws(tmp: Path) -> list[str]:
    return ["--workspace", str(tmp / "ws.duckdb")]


# one real bad input per sub-command: (argv builder, text the sentence must hold)
CASES: dict[str, tuple[Setup, str]] = {
    "profile list": (
        lambda t, mp: (mp.setenv("HYDRODIAG_RESOURCES", str(t / "nothing")), ["profile", "list"])[
            1
        ],
        "nothing/profiles: no such file or folder",
    ),
    "profile show": (lambda t, mp: ["profile", "show", "no-such-machine"], "no shipped profile"),
    "profile validate": (
        lambda t, mp: (
            (t / "p.yaml").write_text("id: x\nname: y\nkind: z\ncomponents: [}"),
            ["profile", "validate", str(t / "p.yaml")],
        )[1],
        "not valid YAML",
    ),
    "workspace info": (
        lambda t, mp: ["--workspace", str(foreign(t)), "workspace", "info"],
        "not a HydroDiag workspace",
    ),
    "ingest uci": (
        lambda t, mp: [*_ws(t), "ingest", "uci", str(t / "missing"), "--equipment", "rig"],
        "missing",
    ),
    "ingest csv": (
        lambda t, mp: [
            *_ws(t),
            "ingest",
            "csv",
            "x.csv",
            "--equipment",
            "rig",
            "--skip-rows",
            "-1",
        ],
        "--skip-rows -1",
    ),
    "ingest labels": (
        lambda t, mp: [*_ws(t), "ingest", "labels", str(t / "none.csv"), "--equipment", "rig"],
        "none.csv",
    ),
    "train": (
        lambda t, mp: ["train", "--uci", str(t / "missing"), "--out", str(t / "run")],
        "missing",
    ),
    "export-onnx": (
        lambda t, mp: ["export-onnx", str(t / "none.pt"), "--out", str(t / "m.onnx")],
        "none.pt",
    ),
    "evaluate uci": (lambda t, mp: ["evaluate", "uci", str(t / "missing")], "missing"),
    "evaluate cv": (lambda t, mp: ["evaluate", "cv", str(t / "missing")], "missing"),
    "evaluate merge": (
        lambda t, mp: ["evaluate", "merge", str(t / "a.json"), "--json", str(t / "o.json")],
        "a.json",
    ),
    "diagnose": (
        lambda t, mp: [*_ws(t), "diagnose", "--equipment", "rig", "--last", "99999999999d"],
        "--last '99999999999d'",
    ),
    "simulate": (
        lambda t, mp: ["simulate", "--duration", "1m", "--out", str(t / "no" / "dir" / "x.csv")],
        "does not exist",
    ),
    "live modbus": (
        lambda t, mp: [*_ws(t), "live", "modbus", "--equipment", "rig", "--map", "m.yaml"],
        "--host",
    ),
    "live csv": (
        lambda t, mp: [
            *_ws(t),
            "live",
            "csv",
            "--equipment",
            "rig",
            "--profile",
            "zema-test-rig",
            "--file",
            str(t / "missing.csv"),
        ],
        "no such file",
    ),
    "demo": (
        lambda t, mp: (
            (t / "datafile").write_text("x"),
            mp.setenv("HYDRODIAG_DATA_DIR", str(t / "datafile")),
            ["demo", "--no-gui"],
        )[2],
        "datafile",
    ),
    "report": (
        lambda t, mp: [*_ws(t), "report", "--equipment", "rig", "--out", str(t)],
        "is a folder",
    ),
    "gui": (lambda t, mp: ["--workspace", str(foreign(t)), "gui"], "not a HydroDiag workspace"),
    "fit": (
        lambda t, mp: [*_ws(t), "fit", "--equipment", "rig", "--false-alarm-budget", "2"],
        "--false-alarm-budget",
    ),
    "evaluate anomalies": (
        lambda t, mp: [
            "--workspace",
            str(foreign(t)),
            "evaluate",
            "anomalies",
            "--equipment",
            "rig",
        ],
        "not a HydroDiag workspace",
    ),
}


# Sub-commands other branches add (main's `hydrodiag model ...`): their cases count where the
# parser has them. Every one of them opens an existing workspace first, here another program's.
OPTIONAL: dict[str, tuple[Setup, str]] = {
    f"model {action}": (
        lambda t, mp, extra=extra: ["--workspace", str(foreign(t)), "model", *extra],
        "",
    )
    for action, extra in {
        "list": ["list"],
        "show": ["show", "nope"],
        "activate": ["activate", "nope", "--equipment", "rig"],
        "rollback": ["rollback", "--equipment", "rig"],
        "export": ["export", "nope"],
        "import": ["import", "nope.hdmodel"],
        "remove": ["remove", "nope", "--yes"],
    }.items()
}
CASES.update({k: v for k, v in OPTIONAL.items() if k in subcommands()})


def test_every_subcommand_has_an_error_case() -> None:
    assert sorted(CASES) == sorted(subcommands())


@pytest.mark.parametrize("command", sorted(CASES))
def test_bad_input_ends_in_a_sentence(
    command: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    setup, expected = CASES[command]
    argv = setup(tmp_path, monkeypatch)
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 1, (out, err)
    assert err.startswith("error: ") and expected in err, err
    assert "Traceback" not in err + out
    assert "internal error" not in err, err  # a known bad input is not a bug


@pytest.mark.parametrize("command", sorted(CASES))
def test_unexpected_exception_is_one_sentence_and_a_log_file(
    command: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    module_name, function = subcommands()[command]
    module = importlib.import_module(module_name)

    def broken(args: argparse.Namespace) -> int:
        raise KeyError("a bug the user should never see as a traceback")

    monkeypatch.setattr(module, function, broken)
    setup, _ = CASES[command]
    monkeypatch.chdir(tmp_path)
    code = main(setup(tmp_path, monkeypatch) if command != "demo" else ["demo", "--no-gui"])
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err + out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert f"`hydrodiag {command}` stopped on an internal error (KeyError" in lines[0]
    log = Path(lines[0].split("Details are in ")[1].split(" (send")[0])
    body = log.read_text(encoding="utf-8")
    assert "Traceback" in body and "a bug the user should never see" in body
    assert f"sub-command: {command}" in body


def test_closed_output_pipe_is_quiet(tmp_path: Path) -> None:
    """`hydrodiag profile show ... | head -1`: no BrokenPipeError on the terminal."""
    script = (
        "import sys; from app.cli import main; "
        "sys.exit(main(['profile', 'show', 'tracked-excavator']))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # the reader goes away, as `head` does
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) in (0, 141)
    assert "Traceback" not in err and "BrokenPipe" not in err


def _as_user(tmp: Path, argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run `hydrodiag argv` as an ordinary user (root ignores file permissions): as user
    'nobody' when the tests run as root, else as ourselves."""
    kwargs: dict[str, object] = {}
    if os.geteuid() == 0:
        kwargs = {"user": 65534, "group": 65534, "extra_groups": []}
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from app.cli import main; sys.exit(main(sys.argv[1:]))",
            *argv,
        ],
        capture_output=True,
        text=True,
        cwd=tmp,
        env={**os.environ, "PYTHONPATH": str(REPO), "HYDRODIAG_DATA_DIR": str(tmp / "data")},
        timeout=120,
        check=False,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
def shared_tmp() -> Path:
    """A temporary folder an unprivileged user can work in."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="hydrodiag-perm-"))
    folder.chmod(0o777)
    probe = _as_user(folder, ["--version"])
    if probe.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"cannot run HydroDiag as an unprivileged user here: {probe.stderr[-200:]}")
    yield folder
    for path in folder.rglob("*"):
        path.chmod(0o777)
    shutil.rmtree(folder, ignore_errors=True)


def test_permission_problems_are_sentences_and_change_nothing(shared_tmp: Path) -> None:
    log = shared_tmp / "secret.csv"
    log.write_text("time,PS1\n2026-03-02T06:00:00,1\n")
    log.chmod(0o000)
    ws = shared_tmp / "ws.duckdb"
    run = _as_user(
        shared_tmp, ["--workspace", str(ws), "ingest", "csv", str(log), "--equipment", "rig",
                     "--profile", "zema-test-rig"]
    )  # fmt: skip
    assert run.returncode == 1 and "secret.csv: permission denied" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr

    locked = shared_tmp / "locked"
    locked.mkdir()
    log.chmod(0o644)
    from ingestion.workspace import open_workspace

    open_workspace(locked / "ws.duckdb").close()
    (locked / "ws.duckdb").chmod(0o666)
    before = sorted(p.name for p in locked.iterdir())
    locked.chmod(0o555)
    for argv in (
        ["ingest", "csv", str(log), "--equipment", "rig", "--profile", "zema-test-rig"],
        ["diagnose", "--equipment", "rig"],
    ):
        run = _as_user(shared_tmp, ["--workspace", str(locked / "ws.duckdb"), *argv])
        assert run.returncode == 1, run.stderr
        assert "is read-only" in run.stderr and "ws.duckdb.wal" in run.stderr, run.stderr
        assert "Traceback" not in run.stderr
    assert sorted(p.name for p in locked.iterdir()) == before

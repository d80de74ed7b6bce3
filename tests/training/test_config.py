"""TrainConfig and the command-line options built from it: one definition, no drift."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Literal, get_args, get_origin

import pytest

from app.commands._common import CONFIG_OPTIONS, add_config_options, train_config
from ingestion.errors import HydroDiagError
from training import config

REPO = Path(__file__).resolve().parents[2]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    add_config_options(parser)
    return parser


def _option(parser: argparse.ArgumentParser, dest: str) -> argparse.Action:
    (action,) = (a for a in parser._actions if a.dest == dest)
    return action


def test_unset_options_give_the_default_config() -> None:
    assert train_config(_parser().parse_args([])) == config.TrainConfig()


@pytest.mark.parametrize(("dest", "name"), CONFIG_OPTIONS.items())
def test_each_option_is_its_fields_type_help_and_default(dest: str, name: str) -> None:
    field = config.TrainConfig.model_fields[name]
    action = _option(_parser(), dest)
    assert action.option_strings[0] == "--" + dest.replace("_", "-")
    assert action.default is None  # unset: the field's default, through train_config
    assert field.description and action.help is not None
    assert action.help.startswith(field.description.replace("%", "%%"))
    shown = "on" if field.default is True else "off" if field.default is False else field.default
    assert action.help.endswith(f"(default {shown})")
    if get_origin(field.annotation) is Literal:
        assert tuple(action.choices or ()) == get_args(field.annotation)


def test_option_values_reach_the_config() -> None:
    args = _parser().parse_args(
        [
            "--hidden",
            "8",
            "--layers",
            "3",
            "--lr",
            "0.01",
            "--normalisation",
            "phase",
            "--discriminant-scale",
            "nominal",
            "--no-discriminant-variation",
            "--threads",
            "2",
        ]
    )
    assert train_config(args) == config.TrainConfig(
        hidden_channels=8,
        num_layers=3,
        lr=0.01,
        normalisation="phase",
        discriminant_scale="nominal",
        discriminant_variation=False,
        threads=2,
    )


def test_choices_outside_the_literal_are_refused_by_the_parser(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["--normalisation", "cycle"])
    assert "invalid choice: 'cycle'" in capsys.readouterr().err


def test_a_value_the_config_refuses_names_the_option() -> None:
    with pytest.raises(HydroDiagError, match="--batch-size 0: Input should be greater than"):
        train_config(_parser().parse_args(["--batch-size", "0"]))


@pytest.mark.parametrize(
    "statement", ["import training.config", "import app.cli; app.cli.build_parser()"]
)
def test_the_options_are_built_without_torch_or_numpy(statement: str) -> None:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=REPO
    )
    loaded = {name.split(".")[0] for name in out.stdout.split()}
    assert not loaded & {"torch", "numpy"}

"""The sample workspace the app's tests share: the simulated demo rig, diagnosed by the real
engine (app.core.sample), built once per test session; tests write to copies of it."""

from __future__ import annotations

import pytest

from app.core.sample import SampleWorkspace, build_sample_workspace


@pytest.fixture(scope="session")
def sample_template(tmp_path_factory: pytest.TempPathFactory) -> SampleWorkspace:
    """Built once (about 4 s): tests copy ``path`` before they write to it."""
    return build_sample_workspace(tmp_path_factory.mktemp("sample") / "sample.duckdb")

"""The user's settings: one versioned pydantic model stored as JSON in the user data directory.

Window geometry lives here too (not in QSettings) so that tests, which point
``HYDRODIAG_DATA_DIR`` at a temporary folder, never read or write the user's real files.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ingestion.resources import user_data_dir

SETTINGS_VERSION = 1
SETTINGS_FILE = "settings.json"
MAX_RECENT = 8

log = logging.getLogger(__name__)

PressureUnit = Literal["bar", "psi", "MPa"]
TemperatureUnit = Literal["°C", "°F"]
ProviderPreference = Literal["auto", "cuda", "cpu"]
TimeZoneChoice = Literal["local", "UTC"]


class Settings(BaseModel):
    """Everything the app remembers between runs."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    version: int = SETTINGS_VERSION
    workspace_path: str | None = Field(
        default=None, description="workspace opened at start; None = the default workspace"
    )
    healthy_threshold: float = Field(default=0.7, gt=0.0, le=1.0)
    critical_threshold: float = Field(default=0.5, gt=0.0, le=1.0)
    pressure_unit: PressureUnit = "bar"
    temperature_unit: TemperatureUnit = "°C"
    provider: ProviderPreference = "auto"
    # F5 ("Diagnose last 30 min") diagnoses this many minutes up to the end of the data.
    diagnose_last_minutes: int = Field(default=30, ge=1, le=7 * 24 * 60)
    # Times on screen: the computer's zone (named beside each time) or UTC (the workspace's).
    time_zone: TimeZoneChoice = "local"
    recent_workspaces: tuple[str, ...] = ()
    last_equipment: str | None = None
    last_tab: int = 0
    # Qt's saveGeometry()/saveState() as hex: opaque bytes, restored as they were saved.
    window_geometry: str = ""
    window_state: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> Settings:
        if self.critical_threshold >= self.healthy_threshold:
            raise ValueError(
                f"critical threshold ({self.critical_threshold}) must be below the healthy "
                f"threshold ({self.healthy_threshold})"
            )
        return self

    def with_recent(self, path: str) -> Settings:
        recent = (path, *(p for p in self.recent_workspaces if p != path))[:MAX_RECENT]
        return self.model_copy(update={"recent_workspaces": recent})


def settings_path() -> Path:
    return user_data_dir() / SETTINGS_FILE


def load_settings(path: Path | None = None) -> Settings:
    """Read the settings; a missing, corrupt or newer file gives defaults (and a log line)."""
    file = path or settings_path()
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Settings()
    except (OSError, ValueError) as exc:
        log.warning("%s: unreadable settings (%s); using defaults", file, exc)
        return Settings()
    if not isinstance(data, dict) or int(data.get("version", 0)) > SETTINGS_VERSION:
        log.warning("%s: settings of an unknown version; using defaults", file)
        return Settings()
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        log.warning("%s: invalid settings (%s); using defaults", file, exc)
        return Settings()


def save_settings(settings: Settings, path: Path | None = None) -> None:
    """Write atomically, so a crash while saving never leaves a half-written file."""
    file = path or settings_path()
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(".tmp")
    tmp.write_text(settings.model_dump_json(indent=2), encoding="utf-8")
    os.replace(tmp, file)

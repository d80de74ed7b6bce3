"""The workspace schema and its migrations.

Each entry of ``MIGRATIONS`` moves a workspace from version i to i + 1 and runs inside one
transaction with the bump of ``meta.schema_version``. Never edit a migration that has shipped:
append a new one.

Timestamps are UTC, stored as naive ``TIMESTAMP`` (DuckDB's microsecond type).
"""

from __future__ import annotations

from typing import Final

APPLICATION_ID: Final = "hydrodiag"
"""``meta.application_id`` of every workspace (from schema v3 on)."""

PYRAMID_FACTOR: Final = 4
"""Each level of the view pyramid (v5, :mod:`ingestion.pyramid`) has buckets this many times
longer than the level below; level 0 has 1 s buckets."""
PYRAMID_LEVELS: Final = 7


MIGRATIONS: Final[tuple[str, ...]] = (
    # v1: the core workspace
    """
    CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);

    CREATE TABLE profiles (
        id VARCHAR NOT NULL,
        version INTEGER NOT NULL,
        sha256 VARCHAR NOT NULL,
        body JSON NOT NULL,                 -- the full EquipmentProfile as JSON, copied on use
        added_at TIMESTAMP NOT NULL,
        PRIMARY KEY (id, sha256)
    );

    CREATE TABLE equipment (
        id VARCHAR PRIMARY KEY,
        name VARCHAR NOT NULL,
        profile_id VARCHAR NOT NULL,
        profile_sha256 VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL,
        notes VARCHAR NOT NULL DEFAULT ''
    );

    CREATE SEQUENCE inspections_id;
    CREATE TABLE inspections (
        id INTEGER PRIMARY KEY DEFAULT nextval('inspections_id'),
        equipment_id VARCHAR NOT NULL,
        started_at TIMESTAMP NOT NULL,
        site VARCHAR NOT NULL DEFAULT '',
        customer VARCHAR NOT NULL DEFAULT '',
        inspector VARCHAR NOT NULL DEFAULT '',
        notes VARCHAR NOT NULL DEFAULT ''
    );

    CREATE SEQUENCE sources_id;
    CREATE TABLE sources (
        id INTEGER PRIMARY KEY DEFAULT nextval('sources_id'),
        equipment_id VARCHAR NOT NULL,
        inspection_id INTEGER,
        kind VARCHAR NOT NULL,              -- uci, csv, modbus, live_csv, simulator
        uri VARCHAR NOT NULL,               -- file path or feed address
        sha256 VARCHAR,                     -- of the file's bytes (NULL for live feeds)
        row_count BIGINT NOT NULL DEFAULT 0,
        value_count BIGINT NOT NULL DEFAULT 0,
        first_ts TIMESTAMP,
        last_ts TIMESTAMP,
        status VARCHAR NOT NULL,            -- complete, live, failed
        error VARCHAR,
        options JSON,                       -- how it was read (delimiter, mapping, units, ...)
        warnings JSON,
        imported_at TIMESTAMP NOT NULL
    );

    -- Long layout: one row per sample. Sorted appends per source keep zone maps tight.
    CREATE TABLE measurements (
        equipment_id VARCHAR NOT NULL,
        sensor_id VARCHAR NOT NULL,
        ts TIMESTAMP NOT NULL,
        value DOUBLE,                       -- NULL for a non-finite reading (kept as a gap)
        source_id INTEGER NOT NULL
    );

    CREATE TABLE cycles (
        equipment_id VARCHAR NOT NULL,
        cycle_no INTEGER NOT NULL,          -- as numbered by the source (UCI: original cycle)
        start_ts TIMESTAMP NOT NULL,
        end_ts TIMESTAMP NOT NULL,
        stable BOOLEAN,
        source_id INTEGER NOT NULL,
        PRIMARY KEY (equipment_id, cycle_no)
    );

    CREATE SEQUENCE labels_id;
    CREATE TABLE labels (
        id INTEGER PRIMARY KEY DEFAULT nextval('labels_id'),
        equipment_id VARCHAR NOT NULL,
        component_id VARCHAR NOT NULL,
        start_ts TIMESTAMP NOT NULL,
        end_ts TIMESTAMP NOT NULL,
        grade SMALLINT NOT NULL,            -- 0 optimal .. 3 near failure
        fault_type VARCHAR,                 -- e.g. accumulator_precharge_loss; NULL when grade 0
        raw_value VARCHAR,                  -- the source's own level, e.g. '115' bar
        origin VARCHAR NOT NULL,            -- dataset, inspection
        source_id INTEGER,
        inspection_id INTEGER
    );

    CREATE TABLE gaps (
        equipment_id VARCHAR NOT NULL,
        source_id INTEGER NOT NULL,
        start_ts TIMESTAMP NOT NULL,
        end_ts TIMESTAMP NOT NULL,
        reason VARCHAR NOT NULL             -- connection lost, timeout, ...
    );

    CREATE TABLE models (
        id VARCHAR NOT NULL,
        version VARCHAR NOT NULL,
        profile_id VARCHAR NOT NULL,
        path VARCHAR NOT NULL,
        card JSON,
        active BOOLEAN NOT NULL DEFAULT FALSE,
        added_at TIMESTAMP NOT NULL,
        PRIMARY KEY (id, version)
    );

    CREATE SEQUENCE diagnoses_id;
    CREATE TABLE diagnoses (
        id INTEGER PRIMARY KEY DEFAULT nextval('diagnoses_id'),
        equipment_id VARCHAR NOT NULL,
        inspection_id INTEGER,
        created_at TIMESTAMP NOT NULL,
        window_start TIMESTAMP NOT NULL,
        window_end TIMESTAMP NOT NULL,
        model_id VARCHAR NOT NULL,
        model_version VARCHAR NOT NULL,
        provider VARCHAR NOT NULL,
        overall_health DOUBLE,
        overall_status VARCHAR NOT NULL,
        verdict VARCHAR NOT NULL,
        body JSON NOT NULL                  -- the full gnn.results.Diagnosis
    );

    -- Flattened per-window, per-component health: the source of health histories and trends.
    CREATE TABLE health_history (
        diagnosis_id INTEGER NOT NULL,
        equipment_id VARCHAR NOT NULL,
        component_id VARCHAR NOT NULL,
        window_start TIMESTAMP NOT NULL,
        window_end TIMESTAMP NOT NULL,
        health DOUBLE NOT NULL,
        grade SMALLINT NOT NULL,
        anomaly DOUBLE
    );

    CREATE TABLE recommendations (
        diagnosis_id INTEGER NOT NULL,
        equipment_id VARCHAR NOT NULL,
        component_id VARCHAR NOT NULL,
        rule_id VARCHAR NOT NULL,
        priority VARCHAR NOT NULL,
        due_date TIMESTAMP NOT NULL,
        title VARCHAR NOT NULL,
        action VARCHAR NOT NULL,
        evidence JSON NOT NULL
    );
    """,
    # v2: one wide table per wide CSV import (writing 20x fewer rows than the long layout made
    # imports 3.5x faster). The long table keeps the UCI, long-CSV and live rows; `measurements`
    # becomes a view over it plus every wide table unpivoted, so readers see one long relation.
    # The view is regenerated (ingestion.wide.refresh_view) in the same transaction that adds
    # or drops a wide table.
    """
    ALTER TABLE measurements RENAME TO measurements_long;

    CREATE TABLE wide_tables (
        source_id INTEGER PRIMARY KEY,
        table_name VARCHAR NOT NULL UNIQUE,  -- wide_<source_id>: never derived from user text
        equipment_id VARCHAR NOT NULL,
        columns JSON NOT NULL,              -- {"v0": "PS1", ...}: column -> sensor id
        created_at TIMESTAMP NOT NULL
    );

    CREATE VIEW measurements AS
    SELECT equipment_id, sensor_id, ts, value, source_id FROM measurements_long;
    """,
    # v3: the model registry (ingestion.model_registry; API in gnn.registry). The v1 `models`
    # table pointed at files by path and was never used by the engine: it is replaced by one
    # that holds each model's ONNX bytes (the workspace stays self-contained) and its card.
    # Built-in (shipped) models are never copied in: they are listed from resources/models.
    # Which model an equipment uses is the latest activation not ended (rolled back or its
    # model removed); ended rows stay as the history.
    """
    DROP TABLE models;

    CREATE TABLE models (
        id VARCHAR NOT NULL,
        version VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,              -- graded (grades conditions), anomaly (learned normal)
        profile_id VARCHAR NOT NULL,
        profile_sha256 VARCHAR NOT NULL,    -- gnn.graph.profile_sha256, as in the ONNX metadata
        onnx BLOB NOT NULL,
        sha256 VARCHAR NOT NULL UNIQUE,     -- of the ONNX bytes
        size_bytes BIGINT NOT NULL,
        card JSON,                          -- whatever the trainer wrote (card.json)
        parent_id VARCHAR,                  -- the model it was fine-tuned / refitted from
        parent_version VARCHAR,
        origin VARCHAR NOT NULL,            -- trained, fitted, imported
        created_at TIMESTAMP NOT NULL,      -- when the model was made (its card's created_utc)
        added_at TIMESTAMP NOT NULL,        -- when it came into this workspace
        note VARCHAR NOT NULL DEFAULT '',   -- e.g. the file it was imported from
        PRIMARY KEY (id, version)
    );

    CREATE SEQUENCE model_activations_id;
    CREATE TABLE model_activations (
        id INTEGER PRIMARY KEY DEFAULT nextval('model_activations_id'),
        equipment_id VARCHAR NOT NULL,
        model_id VARCHAR NOT NULL,
        model_version VARCHAR NOT NULL,
        builtin BOOLEAN NOT NULL,           -- a shipped model (not in `models`)
        activated_at TIMESTAMP NOT NULL,
        reason VARCHAR NOT NULL DEFAULT '', -- activated, trained --activate, imported --activate
        ended_at TIMESTAMP,                 -- NULL while in effect
        ended_by VARCHAR                    -- rolled back, model removed
    );

    ALTER TABLE diagnoses ADD COLUMN model_sha256 VARCHAR;  -- of the ONNX bytes that ran
    """,
    # v4: the workspace says whose it is. A DuckDB file without this row (and without the
    # tables of v1/v2) belongs to another program and is refused, never written to. Live
    # sources may now also end 'interrupted' (their recorder died; see ingestion.recovery).
    f"""
    INSERT INTO meta VALUES ('application_id', '{APPLICATION_ID}') ON CONFLICT DO NOTHING;
    """,
    # v5: the view pyramid (ingestion.pyramid): min / max / sum / count of each sensor per
    # bucket of 1 s, 4 s, ... 4096 s, per source, so that a plot of a week reads a screen's width
    # of points. Imports build it for their source, live recordings extend it at each flush;
    # opening the workspace then builds it for the data already there, a source and a few
    # hours at a time (ingestion.pyramid.build_missing: a migration here is SQL only).
    f"""
    CREATE TABLE pyramid (
        equipment_id VARCHAR NOT NULL,
        sensor_id VARCHAR NOT NULL,
        source_id INTEGER NOT NULL,
        level TINYINT NOT NULL,             -- buckets of {PYRAMID_FACTOR}^level seconds
        bucket BIGINT NOT NULL,             -- floor(epoch seconds / bucket seconds)
        n INTEGER NOT NULL,                 -- finite samples in the bucket (> 0)
        vmin DOUBLE NOT NULL,
        vmax DOUBLE NOT NULL,
        vsum DOUBLE NOT NULL                -- vsum / n is the mean; sums merge across sources
    );

    """,
)

SCHEMA_VERSION: Final = len(MIGRATIONS)

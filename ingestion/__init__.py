"""Profiles, sources (CSV, UCI, Modbus, simulator) and the DuckDB workspace store. No Qt, no torch."""

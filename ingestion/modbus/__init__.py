"""Modbus TCP/RTU: register maps, a read-only polling client and the simulator's server."""

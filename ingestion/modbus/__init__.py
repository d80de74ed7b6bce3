"""Modbus TCP/RTU: register maps, a read-only client, the poller that records through it, and the
simulator's server."""

import logging

# pymodbus logs every failed frame with a hex dump at ERROR; our poller reports the same event
# as one sentence. Quiet it unless someone configured the logger on purpose.
if logging.getLogger("pymodbus").level == logging.NOTSET:
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

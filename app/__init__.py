"""The HydroDiag desktop app, its report export and the ``hydrodiag`` command line."""

__version__ = "0.1.0"

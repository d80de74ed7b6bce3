"""HydroDiag's shipped data: equipment profiles, the model and its card, rules, simulator parameters.

Installed as the package ``hydrodiag_resources`` (see pyproject.toml) so that a wheel carries it;
:func:`ingestion.resources.resources_dir` finds it. Holds no code.
"""

"""The user guide (Markdown), installed as the package ``hydrodiag_docs`` so that the app's Help
(F1) finds it in any install: see app/core/help.py."""

"""Subcommands: one module each, with `configure_parser()` and `execute()` (auditwheel style)."""

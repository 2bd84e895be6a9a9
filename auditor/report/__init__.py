"""Reports: one module per output format, all rendered from one report object."""

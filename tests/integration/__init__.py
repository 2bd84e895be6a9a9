"""Integration tests: real Docker engine, registries and Debian images (``integration``)."""

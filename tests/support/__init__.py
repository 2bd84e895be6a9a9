"""Test support code: real services (Docker engine, registries) and real base images.

Nothing here is imported by ``auditor`` itself. Integration tests reach these helpers
through the fixtures in ``tests/integration/conftest.py``; see ``services`` and
``baseimages`` for what each helper starts, caches and stops.
"""

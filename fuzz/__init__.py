"""Coverage-guided fuzz targets (atheris); see fuzz/harness.py."""

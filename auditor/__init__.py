"""imgaudit: audit finished container images for Python applications.

The package follows one straight data flow (see README "Architecture"):
sources -> layers -> fs -> facts -> checks -> scoring -> report.
"""

__version__ = "0.1.0"

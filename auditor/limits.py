"""The guards a layer read applies to untrusted archives, and their defaults.

Their own module so that the command line and the loading options can name them
without importing the layer reader (its inflaters and tar parser): a scan answered
from the result cache reads no layer (README "Performance").
"""

from __future__ import annotations

DEFAULT_MAX_RATIO = 1000  # decompression-bomb guard: uncompressed / compressed bytes
# Tar-bomb guard: entries per image (every layer counts). An entry costs ~300 bytes of
# memory in the index and as much again in the merged model; real images hold well under
# 500k (a full CUDA + PyTorch image: ~150k). Raise it with --max-entries.
DEFAULT_MAX_ENTRIES = 2_000_000

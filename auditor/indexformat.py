"""The layer index's format number, on its own: the layer cache's directory and the
result cache's key name it, and a scan the result cache answers should not import the
index model (auditor/layerindex.py) to learn it (README "Performance").

2: ELF facts from the forward-only parser (auditor/elf.py); 3: the compact binary file
(auditor/indexcodec.py) instead of gzip'd JSON; 4: typed ELF facts with the loader's
header checks (auditor/elffacts.py); 5: section headers read in file order (a library
patchelf rewrote, unreadable in 4, now has its link facts); 6: the stored blob's
digest in the header (the layer cache files an index under it: auditor/cache.py).
"""

INDEX_FORMAT = 6

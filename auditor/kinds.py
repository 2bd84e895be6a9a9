"""The kinds of tar entry, one character each (as the layer index stores them).

On their own so that a module that only names a kind (most checks) does not import the
layer index model or the filesystem model: every scan imports every check, and a scan
the result cache answers needs neither model (README "Performance").
"""

FILE, DIR, SYMLINK, HARDLINK, CHAR, BLOCK, FIFO = "f", "d", "l", "h", "c", "b", "p"
KINDS = frozenset({FILE, DIR, SYMLINK, HARDLINK, CHAR, BLOCK, FIFO})

"""Fuzz the ELF reader: any bytes after the ELF magic must give link facts or an
`UnreadableElf` record, never an exception (the scan goes on past a bad binary)."""

from __future__ import annotations

import atexit
import io
import shutil
import tempfile

from harness import instrumented, main

with instrumented():
    from auditor.elf import ELF_MAGIC, parse_elf_stream
    from auditor.elffacts import ElfFacts, UnreadableElf, from_json, to_json

_SPILL = tempfile.mkdtemp(prefix="imgaudit-fuzz-elf-")
# every importer (each test worker, each fuzzing run) made one and left it in /tmp
atexit.register(shutil.rmtree, _SPILL, True)


def one_input(data: bytes) -> None:
    if not data.startswith(ELF_MAGIC):
        data = ELF_MAGIC + data
    facts = parse_elf_stream(io.BytesIO(data[4:]), data[:4], _SPILL)
    assert isinstance(facts, (ElfFacts, UnreadableElf))
    assert from_json(to_json(facts)) == facts  # what the layer index stores reads back


if __name__ == "__main__":
    main(one_input)

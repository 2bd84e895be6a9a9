"""IN001: what the image holds that imgaudit cannot model is a finding; imgaudit's own
limits (a file over a capture size, an ELF file whose link facts lie beyond what the
streaming parser keeps) are listed in the report's `skipped` section, never findings.
"""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

import jsonschema
import pytest

import auditor.elf as elf
from auditor.checks import in001_unreadable_entries
from auditor.elffacts import UnreadableElf
from auditor.report.schema import schema
from auditor.report.sections import skipped_section
from tests.checks.support import image, load, run
from tests.factory import File, Layer, Raw
from tests.test_elf_bigtables import CAP, big_library

CACERT = "usr/local/lib/python3.11/site-packages/certifi/cacert.pem"


def _bundle(size: int) -> bytes:
    """A CA bundle of `size` bytes (certifi's is 280 KB: over the 64 KiB *.pem capture)."""
    block = b"-----BEGIN CERTIFICATE-----\n" + b"MIIB" * 16 + b"\n-----END CERTIFICATE-----\n"
    return (block * (size // len(block) + 1))[:size]


def _volume_header(name: str) -> Raw:
    info = tarfile.TarInfo(name)
    info.type = b"V"  # a GNU volume header: no root filesystem holds one
    return Raw(info)


def test_a_file_over_a_capture_limit_is_no_finding(tmp_path: Path) -> None:
    spec = image(Layer([File(CACERT, _bundle(286_370)), File("etc/os-release", b"ID=debian\n")]))
    assert run(in001_unreadable_entries, spec, tmp_path) == []
    (note,) = skipped_section(load(spec, tmp_path).fs)
    assert note == {
        "layer": 0,
        "entry": f"{CACERT}: 286370 bytes, over the capture limit of 65536",
        "kind": "reader-limit",
    }


def test_an_entry_the_image_holds_and_cannot_be_modelled_is_a_finding(tmp_path: Path) -> None:
    spec = image(Layer([File(CACERT, _bundle(100_000)), _volume_header("app/volume")]))
    (finding,) = run(in001_unreadable_entries, spec, tmp_path)
    assert finding.message == (
        "1 tar entry skipped or recorded in part: app/volume: unsupported tar entry type b'V'"
    )
    assert finding.evidence["count"] == 1  # the cut cacert.pem is not counted
    notes = skipped_section(load(spec, tmp_path).fs)
    kinds = [(n["entry"].split(":")[0], n["kind"]) for n in notes]
    assert kinds == [(CACERT, "reader-limit"), ("app/volume", "unmodelled")]


def test_an_elf_beyond_the_parser_is_skipped_a_truncated_one_is_a_finding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A whole library whose string table the (lowered) parser caps cannot keep loads as
    usual: `skipped`, no finding. The same library cut short is damaged in the image
    (its segments map past its end): IN001, whatever stopped the parser first."""
    data = big_library().read_bytes()
    monkeypatch.setattr(elf, "PREFIX_CAP", CAP)
    monkeypatch.setattr(elf, "TAIL_CAP", CAP)
    monkeypatch.setattr(elf, "_HARVEST", re.compile(rb"(?!)"))
    whole = image(Layer([File("usr/lib/libiabig.so.1", data, 0o755)]))
    assert run(in001_unreadable_entries, whole, tmp_path) == []
    fs = load(whole, tmp_path).fs
    (note,) = skipped_section(fs)
    assert note["kind"] == "reader-limit" and note["layer"] == 0
    assert "beyond what the streaming parser keeps" in note["entry"]
    ((_, facts),) = fs.elf_files()
    assert isinstance(facts, UnreadableElf) and 0 < facts.mapped_end < len(data)

    # cut inside what its PT_LOAD segments map (the tail past it is section data only)
    cut = image(Layer([File("usr/lib/libiabig.so.1", data[: facts.mapped_end - 4096], 0o755)]))
    (finding,) = run(in001_unreadable_entries, cut, tmp_path)
    assert finding.path == "/usr/lib/libiabig.so.1"
    assert skipped_section(load(cut, tmp_path).fs) == []


def test_the_schema_names_the_kinds_of_skipped_entries(tmp_path: Path) -> None:
    """`kind` is part of the public JSON contract: the two kinds validate, others do not."""
    spec = image(Layer([File(CACERT, _bundle(100_000)), _volume_header("app/volume")]))
    notes = skipped_section(load(spec, tmp_path).fs)
    contract = schema()["properties"]["skipped"]
    jsonschema.validate(notes, contract)
    notes[0]["kind"] = "too-big"
    with pytest.raises(jsonschema.ValidationError, match="too-big"):
        jsonschema.validate(notes, contract)

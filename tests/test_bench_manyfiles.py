"""The many-file bench image generator (bench/manyfiles.py) on a small count.

Asserted against the real tools: GNU tar lists as many entries per layer as the
generator says it wrote, and imgaudit's merged model of the image holds exactly the
regular files that survive the whiteouts (counted from the tar listings). No timing.
"""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

from auditor.fs import FILE
from auditor.loading import LoadOptions, load_image
from auditor.sources import SourceOptions
from bench import manyfiles


def _gnu_tar_names(outer: Path) -> list[list[str]]:
    """Each layer's entry names as GNU tar lists them (layers in manifest order)."""
    import json

    with tarfile.open(outer) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        layers = []
        for name in manifest[0]["Layers"]:
            data = tar.extractfile(name).read()  # type: ignore[union-attr]
            listing = subprocess.run(["tar", "-t"], input=data, capture_output=True, check=True)
            layers.append(listing.stdout.decode().splitlines())
    return layers


def test_generated_image_matches_tar_and_imgaudit(tmp_path: Path) -> None:
    image = manyfiles.write_image(2_000, tmp_path / "many.tar")
    layers = _gnu_tar_names(image.archive)
    assert len(layers) == 4
    assert sum(len(names) for names in layers) == image.entries
    # Surviving regular files, by replaying the layers with GNU tar's names.
    files: set[str] = set()
    for names in layers:
        for name in names:
            if name.endswith("/"):
                continue  # a directory (the generator writes only dirs and files)
            parent, _, base = name.rpartition("/")
            if base.startswith(".wh."):
                gone = f"{parent}/{base[4:]}"
                files = {f for f in files if f != gone and not f.startswith(gone + "/")}
            else:
                files.add(name)
    assert image.files >= 2_000 - 3  # layer counts are rounded per layer share
    loaded = load_image(
        f"docker-archive:{image.archive}",
        LoadOptions(source=SourceOptions(quiet=True), use_cache=False, jobs=1),
    )
    merged = {p for p, node in loaded.fs.walk_files() if node.entry.kind == FILE}
    assert merged == files
    assert len(files) < image.files  # the whiteouts removed whole packages


def test_write_section_replaces_only_its_section(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    results.write_text("# head\n\nkept\n")
    one = f"{manyfiles.SECTION_START}\nfirst\n{manyfiles.SECTION_END}"
    two = f"{manyfiles.SECTION_START}\nsecond\n{manyfiles.SECTION_END}"
    manyfiles.write_section(results, one)
    manyfiles.write_section(results, two)
    text = results.read_text()
    assert text.startswith("# head\n\nkept\n") and "second" in text and "first" not in text


def test_the_main_bench_keeps_the_many_file_section(tmp_path: Path) -> None:
    from bench.run import write_results

    results = tmp_path / "RESULTS.md"
    section = f"{manyfiles.SECTION_START}\nmany rows\n{manyfiles.SECTION_END}"
    results.write_text(f"# an older run\n\n{section}\n")
    write_results(results, "# this run\n")
    text = results.read_text()
    assert text.startswith("# this run\n") and "an older run" not in text
    assert section in text

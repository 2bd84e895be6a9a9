"""Writing outputs never damages what an output path names (issue 18, section 4).

A regular file is replaced atomically (through a symlink: its target); a device node,
a FIFO or a process's file descriptor is written into, never renamed over. Every node
here is made by the test in its own directory: a null-like character device (mknod, as
root), a FIFO with a reader thread, symlinks, /proc/self/fd links to descriptors the
test opened. The real /dev is never touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.cli import main
from auditor.errors import InputError
from auditor.report.output import write_document, write_file
from auditor.report.schema import validate
from tests.support.services import ServiceUnavailable, require_root

NULL_DEVICE = os.makedev(1, 3)  # what the kernel's /dev/null is: writes are discarded


@pytest.fixture
def out(tmp_path: Path) -> Path:
    directory = tmp_path / "out"
    directory.mkdir()
    return directory


@pytest.fixture
def null_device(out: Path) -> Path:
    """A character device like /dev/null, made in the test's own directory."""
    try:
        require_root("mknod of a character device")
    except ServiceUnavailable as exc:
        pytest.skip(str(exc))
    node = out / "null"
    os.mknod(node, 0o666 | stat.S_IFCHR, NULL_DEVICE)
    return node


def _scan_json(image: str, target: Path | str) -> int:
    return main(["scan", image, "-q", "-j", "1", "-o", f"json:{target}"])


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_a_regular_file_is_replaced_atomically(image: str, out: Path) -> None:
    target = out / "r.json"
    target.write_text("the previous report\n")
    before = target.stat().st_ino
    assert _scan_json(image, target) == 1  # SEC001: the image runs as root
    validate(json.loads(target.read_text()))
    assert target.stat().st_ino != before  # a new file renamed over the old one
    assert _names(out) == ["r.json"]  # no temporary file left beside it


def test_a_device_node_stays_a_device_node(image: str, out: Path, null_device: Path) -> None:
    assert _scan_json(image, null_device) == 1
    mode = null_device.lstat().st_mode
    assert stat.S_ISCHR(mode), "the device node was replaced by a regular file"
    assert null_device.lstat().st_rdev == NULL_DEVICE
    assert _names(out) == ["null"]  # and no temporary file was made beside it


@contextlib.contextmanager
def _fifo_reader(fifo: Path) -> Iterator[list[bytes]]:
    """A FIFO at `fifo` with a reader thread; yields what it received (after the block,
    which must have written to it: the reader is then done)."""
    os.mkfifo(fifo)
    received: list[bytes] = []

    def read() -> None:
        with open(fifo, "rb") as fh:
            received.append(fh.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield received
    finally:
        reader.join(timeout=60)
    assert not reader.is_alive()


def test_a_fifo_is_written_into(image: str, out: Path) -> None:
    fifo = out / "pipe"
    with _fifo_reader(fifo) as received:
        assert _scan_json(image, fifo) == 1
    validate(json.loads(received[0]))
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert _names(out) == ["pipe"]


def test_a_symlink_to_a_file_replaces_its_target(image: str, out: Path) -> None:
    (out / "reports").mkdir()
    target = out / "reports" / "latest.json"
    target.write_text("old\n")
    link = out / "report.json"
    link.symlink_to(Path("reports") / "latest.json")  # relative, as people make them
    assert _scan_json(image, link) == 1
    assert link.is_symlink() and os.readlink(link) == "reports/latest.json"
    validate(json.loads(target.read_text()))
    assert _names(out / "reports") == ["latest.json"]


def test_a_dangling_symlink_creates_its_target(image: str, out: Path) -> None:
    link = out / "report.json"
    link.symlink_to(out / "made-by-the-scan.json")
    assert _scan_json(image, link) == 1
    assert link.is_symlink()
    validate(json.loads((out / "made-by-the-scan.json").read_text()))


def test_a_symlink_chain_through_a_linked_directory(image: str, out: Path) -> None:
    real = out / "real"
    real.mkdir()
    (out / "alias").symlink_to("real")
    (real / "target.json").write_text("old\n")
    (out / "first").symlink_to("alias/second")
    (real / "second").symlink_to("target.json")
    assert _scan_json(image, out / "first") == 1
    assert (out / "first").is_symlink() and (real / "second").is_symlink()
    validate(json.loads((real / "target.json").read_text()))


def test_a_symlink_to_a_device_node_keeps_the_node(
    image: str, out: Path, null_device: Path
) -> None:
    link = out / "report.json"
    link.symlink_to(null_device)
    assert _scan_json(image, link) == 1
    assert link.is_symlink() and stat.S_ISCHR(null_device.lstat().st_mode)


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    r, w = os.pipe()
    try:
        yield r, w
    finally:
        for fd in (r, w):
            with contextlib.suppress(OSError):
                os.close(fd)


def test_a_descriptor_link_writes_into_the_pipe(
    image: str, out: Path, pipe: tuple[int, int]
) -> None:
    """`-o /dev/stdout` when stdout is a pipe: /dev/stdout -> /proc/self/fd/1 -> pipe."""
    r, w = pipe
    link = out / "stdout"
    link.symlink_to(f"/proc/self/fd/{w}")
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(_read_all(r)))
    reader.start()
    assert _scan_json(image, link) == 1
    os.close(w)
    reader.join(timeout=60)
    validate(json.loads(received[0]))
    assert link.is_symlink()


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_descriptor_link_to_a_redirected_file_appends(out: Path) -> None:
    """`cmd > log.txt` with `-o /dev/stdout`: the shell's file keeps what came before and
    stays the file the shell holds (a rename would leave the shell writing to a deleted
    inode and lose the report's neighbours)."""
    log = out / "log.txt"
    with open(log, "w") as fh:
        fh.write("written before\n")
        fh.flush()
        link = out / "stdout"
        link.symlink_to(f"/proc/self/fd/{fh.fileno()}")
        inode = os.fstat(fh.fileno()).st_ino
        write_file(link, "the report\n")
        assert os.fstat(fh.fileno()).st_ino == log.stat().st_ino == inode
    assert log.read_text() == "written before\nthe report\n"


def test_documents_use_the_same_writer(out: Path, null_device: Path) -> None:
    """`diff`, `history` and `fleet` write through write_document: same rules."""
    regular = out / "diff.md"
    write_document("# diff\n", str(regular))
    assert regular.read_text() == "# diff\n"
    write_document("# diff\n", str(null_device))
    assert stat.S_ISCHR(null_device.lstat().st_mode)
    assert _names(out) == ["diff.md", "null"]


def test_diff_command_to_a_fifo(image: str, out: Path) -> None:
    report = out / "r.json"
    assert _scan_json(image, report) == 1
    fifo = out / "diff-pipe"
    with _fifo_reader(fifo) as received:
        assert main(["diff", str(report), str(report), "-f", "json", "-o", str(fifo)]) == 0
    assert "findings" in json.loads(received[0])
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_a_replaced_file_keeps_its_permissions(out: Path) -> None:
    target = out / "r.md"
    target.write_text("old\n")
    target.chmod(0o600)
    write_file(target, "new\n")
    assert target.read_text() == "new\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_a_failed_rename_keeps_the_old_report_and_leaves_no_temporary(
    out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The user's previous report survives a failure at the last step, and nothing
    is left beside it (the real rename is made to fail, as a full or read-only disk
    would make it)."""
    target = out / "r.json"
    target.write_text("the previous report\n")

    def refuse(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(InputError, match="No space left on device"):
        write_document("new\n", str(target))
    assert target.read_text() == "the previous report\n"
    assert _names(out) == ["r.json"]


def test_a_symlink_loop_is_a_one_line_error(
    image: str, out: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (out / "a").symlink_to("b")
    (out / "b").symlink_to("a")
    assert _scan_json(image, out / "a") == 2
    err = capsys.readouterr().err.strip()
    assert "symbolic links" in err and "\n" not in err and "Traceback" not in err
    assert _names(out) == ["a", "b"]


def test_a_link_into_a_missing_directory_is_refused_before_anything_is_written(
    image: str, out: Path
) -> None:
    (out / "report.json").symlink_to("nowhere/report.json")
    other = out / "other.md"
    assert (
        main(["scan", image, "-q", "-j", "1", "-o", str(other), "-o", str(out / "report.json")])
        == 2
    )
    assert _names(out) == ["report.json"]  # all outputs or none: other.md not written


def test_a_read_only_descriptor_is_refused(out: Path) -> None:
    source = out / "in.txt"
    source.write_text("input\n")
    with open(source) as fh:
        link = out / "stdin"
        link.symlink_to(f"/proc/self/fd/{fh.fileno()}")
        with pytest.raises(InputError, match="read-only"):
            write_file(link, "x\n")
    assert source.read_text() == "input\n"

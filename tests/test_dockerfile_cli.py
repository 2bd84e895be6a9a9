"""`imgaudit scan --dockerfile` and `[tool.imgaudit] dockerfile`, end to end.

The image is a factory image whose history reads as the classic builder writes it;
the full pipeline (every installed check) runs on it through the command line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from auditor.cli import main
from tests import factory
from tests.factory import Dir, File, Layer
from tests.images import write

DOCKERFILE = """\
FROM debian:12
WORKDIR /app
COPY app/ ./
# world-writable on purpose
RUN chmod -R 0777 /app
CMD ["python3", "/app/main.py"]
"""
SPEC = factory.ImageSpec(
    layers=[
        Layer(
            [
                File("etc/os-release", b'ID=debian\nVERSION_ID="12"\n'),
                File("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"),
            ],
            "/bin/sh -c #(nop) ADD file:0123abcd in / ",
        ),
        Layer([Dir("app")], "/bin/sh -c #(nop) WORKDIR /app"),
        Layer([File("app/main.py", b"print('hi')\n")], "/bin/sh -c #(nop) COPY dir:abc123 in ./ "),
        Layer(
            [Dir("app", mode=0o777), File("app/main.py", b"print('hi')\n", mode=0o777)],
            "/bin/sh -c chmod -R 0777 /app",
        ),
    ],
    name="example.org/shop/api:2.1",
    config={"Cmd": ["python3", "/app/main.py"]},
)
CMD_STEP = '/bin/sh -c #(nop)  CMD ["python3" "/app/main.py"]'


def scan(ref: str, *extra: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code = main(["scan", ref, "--format", "json", "--jobs", "1", "--no-cache", *extra])
    assert code in (0, 1)
    loaded: dict[str, Any] = json.loads(capsys.readouterr().out)
    return loaded


@pytest.fixture
def image(tmp_path: Path) -> str:
    built = factory.build(SPEC)
    config = json.loads(built.config)  # the CMD step last, where the builder writes it
    config["history"].append({"created_by": CMD_STEP, "empty_layer": True})
    return write(factory.with_config(built, config), tmp_path, "docker-archive-legacy")


def test_scan_with_dockerfile(
    image: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    report = scan(image, "--dockerfile", "Dockerfile", capsys=capsys)
    section = report["dockerfile"]
    assert [(m["line"], m["instruction"]) for m in section["matched"]] == [
        (2, "WORKDIR /app"),
        (3, "COPY app/ ./"),
        (5, "RUN chmod -R 0777 /app"),
        (6, 'CMD ["python3", "/app/main.py"]'),
    ]
    assert section["base_steps"] == 1 and "problem" not in section
    by_layer = {f["layer"]: f.get("dockerfile") for f in report["findings"] if "layer" in f}
    assert by_layer[3] == {"path": "Dockerfile", "line": 5, "instruction": "RUN chmod -R 0777 /app"}
    assert by_layer.get(0) is None  # the base image's layer: no line
    root = next(f for f in report["findings"] if f["check_id"] == "SEC001")
    assert "dockerfile" not in root
    assert root["remedy"].endswith(', before line 6 (`CMD ["python3", "/app/main.py"]`)')
    # without --dockerfile nothing of it is in the report
    plain = scan(image, capsys=capsys)
    assert "dockerfile" not in plain
    assert all("dockerfile" not in f for f in plain["findings"])


def test_config_key_is_relative_to_the_config_file(
    image: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / ".imgaudit.toml").write_text('dockerfile = "docker/Dockerfile"\n')
    monkeypatch.chdir(tmp_path)
    report = scan(image, capsys=capsys)
    assert report["dockerfile"]["path"] == "docker/Dockerfile"
    assert {m["line"] for m in report["dockerfile"]["matched"]} == {2, 3, 5, 6}
    # from elsewhere the config (found upward) names the same file, by its full path
    (tmp_path / "src").mkdir()
    monkeypatch.chdir(tmp_path / "src")
    report = scan(image, capsys=capsys)
    assert report["dockerfile"]["path"] == str(tmp_path / "docker" / "Dockerfile")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read it"),
        ("RUN make\n", "RUN before the first FROM"),
    ],
)
def test_a_bad_dockerfile_is_one_line_and_exit_2(
    image: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str | None,
    message: str,
) -> None:
    path = tmp_path / "Dockerfile"
    if content is not None:
        path.write_text(content)
    assert main(["scan", image, "--no-cache", "--dockerfile", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_diff_ignores_the_configs_dockerfile(
    image: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One Dockerfile names the lines of one image: `diff` compares two and takes none
    (a config naming a Dockerfile that is not there proves it is not read)."""
    (tmp_path / ".imgaudit.toml").write_text('dockerfile = "missing/Dockerfile"\n')
    monkeypatch.chdir(tmp_path)
    assert main(["diff", image, image, "--no-cache"]) == 0
    assert main(["scan", image, "--no-cache"]) == 2
    assert "missing/Dockerfile: cannot read it" in capsys.readouterr().err

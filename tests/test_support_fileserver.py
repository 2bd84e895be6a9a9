"""The file server the realistic set's builds download through (tests/support/fileserver.py):
what a build's ``http_proxy`` reaches is the mounted files, by the fixed name, on a port
nobody chose."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.fileserver import BASE_URL, serve


def _get(proxy: str, url: str) -> bytes:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy}))
    with opener.open(url, timeout=30) as answer:
        data: bytes = answer.read()
    return data


def test_served_by_name_through_the_proxy_on_a_free_port(tmp_path: Path) -> None:
    (tmp_path / "wheels").mkdir()
    (tmp_path / "wheels" / "a-1.0-py3-none-any.whl").write_bytes(b"wheel")
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "src.tar.gz").write_bytes(b"source")
    with serve({"wheels": tmp_path / "wheels", "": tmp_path / "files"}) as args:
        proxy = args["http_proxy"]
        assert args["HTTP_PROXY"] == proxy and not proxy.endswith(":0")
        assert _get(proxy, f"{BASE_URL}wheels/a-1.0-py3-none-any.whl") == b"wheel"
        assert _get(proxy, f"{BASE_URL}src.tar.gz") == b"source"
        assert b"a-1.0-py3-none-any.whl" in _get(proxy, f"{BASE_URL}wheels/")
        with pytest.raises(urllib.error.HTTPError) as other:  # only its own name
            _get(proxy, "http://pypi.org/simple/")
        assert other.value.code == 502
        with pytest.raises(urllib.error.HTTPError) as outside:  # nothing above the mounts
            _get(proxy, f"{BASE_URL}../../etc/passwd")
        assert outside.value.code == 404
        assert "localhost" in args["no_proxy"].split(",")
    with serve({"": tmp_path}) as again:  # each build session gets its own port
        assert _get(again["http_proxy"], f"{BASE_URL}files/src.tar.gz") == b"source"

"""The HTML report as text: self-contained, escaped, CSP pinned to our one script."""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser

from auditor.report import html_format
from auditor.report.model import Report
from tests.report.support import XSS_IMG, XSS_NAME, scores


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)


def _parse(report: Report) -> _Tags:
    parser = _Tags()
    parser.feed(html_format.render(report))
    return parser


def test_self_contained(any_report: Report) -> None:
    parsed = _parse(any_report)
    for tag, attrs in parsed.tags:
        for name in ("src", "action", "srcset", "poster", "data", "xlink:href"):
            assert name not in attrs, (tag, attrs)
        assert (attrs.get("href") or "#").startswith("#"), attrs  # in-page links only
        assert tag not in ("link", "iframe", "object", "embed", "img", "base")
    text = html_format.render(any_report)
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text)
    assert "@import" not in text and "url(" not in text


def test_one_script_pinned_by_the_csp(any_report: Report) -> None:
    parsed = _parse(any_report)
    assert [t for t, _ in parsed.tags].count("script") == 1
    (script,) = parsed.scripts
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    (csp,) = [a["content"] for t, a in parsed.tags if t == "meta" and a.get("http-equiv")]
    assert csp is not None
    assert f"script-src 'sha256-{digest}'" in csp and "default-src 'none'" in csp


def test_untrusted_names_cannot_inject(bad_report: Report) -> None:
    text = html_format.render(bad_report)
    for payload in (XSS_NAME, XSS_IMG, "<b>bold</b>", '<img src=x onerror="alert(3)">'):
        assert payload not in text
    assert "/app/&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text
    tags = {t for t, _ in _parse(bad_report).tags}
    assert "img" not in tags and "b" in tags  # our own <b>Fix:</b>, never the image's


def test_grade_scores_findings_charts_waste(bad_report: Report) -> None:
    text = html_format.render(bad_report)
    s = scores(bad_report)
    assert f'id="grade">{s["grade"]}</div>' in text
    assert text.count('<article class="finding"') == 5
    assert text.count('data-severity="warning" data-dimension="small"') == 3
    for section in ("layers", "directories", "packages", "waste", "checks"):
        assert f'id="{section}"' in text
    assert "<title>Biggest Python packages</title>" in text and "numpy 1.26.4" in text
    assert "/tmp/build-cache.bin" in text
    assert "&quot;size&quot;: 20000" in text  # evidence, escaped JSON
    assert text.count('<a href="#check-TST002">About TST002</a>') == 3
    assert text.count("Why it matters: every byte ships") == 1  # each doc once
    assert '<tr id="check-TST002">' in text


def test_not_scored(unscored_report: Report, bare_report: Report) -> None:
    assert 'id="grade">not scored</div>' in html_format.render(unscored_report)
    bare = html_format.render(bare_report)
    assert "Checks were not run." in bare and 'id="packages"' in bare

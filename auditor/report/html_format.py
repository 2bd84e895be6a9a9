"""`--format html`: one self-contained page a person would rather look at than read.

No network and no external assets: CSS and the small findings filter are inline, the
charts are SVG generated in Python. The findings filter can be preset from the URL
fragment (`report.html#sev=error&dim=secure&q=pip`), so a filtered view can be linked.

Everything that comes from the image (paths, messages, labels, history steps,
evidence) is untrusted and goes through
`html.escape`; the page also carries a Content-Security-Policy that allows no
network at all and only our own script (by its hash), so an injection that slipped
through escaping could still not run.
"""

from __future__ import annotations

import base64
import hashlib
import json
from html import escape
from typing import Any

from auditor.findings import Dimension, Finding
from auditor.report.catalog import (
    DIMENSIONS,
    SEVERITIES,
    catalog,
    dimension_of,
    fmt_score,
    severity_counts,
    status_counts,
)
from auditor.report.model import CheckMeta, Report
from auditor.report.svg import Bar, bar_chart, meter
from auditor.units import human_bytes, short_digest, shorten

MAX_WASTE_ROWS = 100
TOP_BARS = 15

CSS = """
:root{--bg:#f6f7f9;--card:#fff;--ink:#1d2430;--mute:#667085;--line:#e4e7ec;
--err:#d92d20;--warn:#dc6803;--info:#1570ef;--ok:#12b76a;--bar:#6172f3}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
main{max-width:1180px;margin:0 auto;padding:24px}
header.top{display:flex;gap:24px;align-items:center}
header.top>div:last-child{flex:1;min-width:0}
.chart{max-width:100%;height:auto;display:block}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:0 0 12px}
.card{background:var(--card);border:1px solid var(--line);border-radius:12px;
padding:18px 20px;margin:16px 0;box-shadow:0 1px 2px rgba(16,24,40,.05)}
.grade{width:96px;height:96px;border-radius:50%;display:flex;align-items:center;
justify-content:center;font-size:48px;font-weight:700;color:#fff;flex:none}
.g-A,.g-B{background:var(--ok)} .g-C{background:#eaaa08} .g-D,.g-E,.g-F{background:var(--err)}
.g-none{background:#98a2b3;font-size:13px;line-height:1.15;padding:10px;text-align:center}
.meta{color:var(--mute)} .meta code{color:var(--ink)}
.scores{display:grid;grid-template-columns:repeat(4,1fr);gap:12px;margin-top:8px}
.score b{font-size:22px;display:block}
.meter .track{fill:#eaecf0}.meter .good{fill:var(--ok)}.meter .mid{fill:#eaaa08}
.meter .bad{fill:var(--err)}
.counts span{display:inline-block;margin-right:14px}
.sev{display:inline-block;border-radius:999px;padding:1px 9px;font-size:12px;
font-weight:600;color:#fff;text-transform:uppercase}
.sev-error{background:var(--err)}.sev-warning{background:var(--warn)}.sev-info{background:var(--info)}
.filters{display:flex;gap:10px;flex-wrap:wrap;margin-bottom:12px;align-items:center}
.filters select,.filters input{font:inherit;padding:5px 8px;border:1px solid var(--line);
border-radius:8px;background:#fff}
.filters input{flex:1;min-width:200px}
.finding{border-top:1px solid var(--line);padding:10px 0}
.finding h3{font-size:14px;margin:0 0 4px;display:flex;gap:8px;align-items:center;flex-wrap:wrap}
.finding .dim{color:var(--mute);font-weight:400}
.finding p{margin:4px 0} a{color:var(--info)}
tr:target{background:#eef4ff}
.path{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:13px;
background:#f2f4f7;padding:1px 6px;border-radius:4px;word-break:break-all}
details pre{background:#f8f9fb;border:1px solid var(--line);border-radius:6px;padding:8px;
overflow:auto;max-height:260px;font-size:12px}
.chart .lbl,.chart .val{font-size:12px;fill:var(--ink)} .chart rect{fill:var(--bar)}
.chart rect.empty{fill:#d0d5dd}
table{border-collapse:collapse;width:100%} th,td{text-align:left;padding:5px 8px;
border-bottom:1px solid var(--line);vertical-align:top} th{color:var(--mute);font-weight:600}
td.num,th.num{text-align:right;white-space:nowrap}
.st-passed{color:var(--ok)}.st-failed{color:var(--err)}.st-error{color:var(--err);font-weight:700}
.st-skipped{color:var(--mute)}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:16px}
@media (max-width:900px){.grid2,.scores{grid-template-columns:1fr 1fr}}
footer{color:var(--mute);text-align:center;padding:12px}
"""

SCRIPT = """
(function () {
  function openTarget() {  // "About CHECK" links open that check's documentation
    var row = document.getElementById(window.location.hash.slice(1));
    var doc = row && row.id.indexOf("check-") === 0 ? row.querySelector("details") : null;
    if (doc) { doc.open = true; }
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();
  var sev = document.getElementById("f-sev");
  var dim = document.getElementById("f-dim");
  var q = document.getElementById("f-q");
  var count = document.getElementById("f-count");
  if (!sev || !dim || !q || !count) { return; }  // no findings section: nothing to filter
  var items = document.querySelectorAll(".finding");
  function apply() {
    var text = q.value.toLowerCase();
    var shown = 0;
    for (var i = 0; i < items.length; i++) {
      var el = items[i];
      var ok = (!sev.value || el.getAttribute("data-severity") === sev.value) &&
               (!dim.value || el.getAttribute("data-dimension") === dim.value) &&
               (!text || el.getAttribute("data-text").indexOf(text) >= 0);
      el.hidden = !ok;
      if (ok) { shown++; }
    }
    count.textContent = shown + " of " + items.length + " shown";
  }
  var preset = new URLSearchParams(window.location.hash.slice(1));
  sev.value = preset.get("sev") || "";
  dim.value = preset.get("dim") || "";
  q.value = preset.get("q") || "";
  sev.addEventListener("change", apply);
  dim.addEventListener("change", apply);
  q.addEventListener("input", apply);
  apply();
})();
"""


def _script_hash() -> str:
    digest = hashlib.sha256(SCRIPT.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


def e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def render(report: Report) -> str:
    reference = report.reference or "image"
    csp = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        f"script-src '{_script_hash()}'; base-uri 'none'; form-action 'none'"
    )
    body = [
        _header(report, reference),
        _findings(report),
        _layers(report),
        '<div class="grid2">',
        _directories(report),
        _packages(report),
        "</div>",
        _waste(report),
        _checks(report),
    ]
    tool = report.tool
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{e(csp)}">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>imgaudit: {e(reference)}</title><style>{CSS}</style></head>"
        "<body><main>"
        + "".join(body)
        + f"<footer>imgaudit {e(tool.get('version', ''))} · report schema "
        f"{e(report.schema_version)}</footer>"
        f"</main><script>{SCRIPT}</script></body></html>\n"
    )


def _header(report: Report, reference: str) -> str:
    image = report.image
    waste = report.waste
    scores = report.scores
    if scores:
        grade = scores.grade
        badge = f'<div class="grade g-{e(grade[:1])}" id="grade">{e(grade)}</div>'
        overall = f"<p><b>{fmt_score(scores.overall)}</b>/100 overall</p>"
        values = {d: scores.dimensions[Dimension(d)] for d in DIMENSIONS}
        dims = "".join(
            f'<div class="score"><span class="meta">{d.capitalize()}</span>'
            f"<b>{fmt_score(values[d])}</b>{meter(values[d])}</div>"
            for d in DIMENSIONS
        )
        score_html = f'{overall}<div class="scores">{dims}</div>'
    else:
        badge = '<div class="grade g-none" id="grade">not scored</div>'
        score_html = '<p class="meta">This report was not scored (no scores section).</p>'
    return (
        '<section class="card"><header class="top">'
        f"{badge}<div><h1>{e(reference)}</h1>"
        f'<div class="meta"><code>{e(short_digest(image.get("digest")))}</code> · '
        f"{e(image.get('os'))}/{e(image.get('architecture'))} · user "
        f"<code>{e(image.get('user') or 'root (no User set)')}</code> · "
        f"{e(human_bytes(image.get('size')))} uncompressed, "
        f"{e(human_bytes(image.get('compressed_size')))} compressed · "
        f"{e(human_bytes(waste['wasted_bytes']))} wasted "
        f"({waste['efficiency'] * 100:.1f}% efficient)</div>"
        f"{score_html}</div></header></section>"
    )


def _findings(report: Report) -> str:
    if report.findings is None and report.results is None:
        return '<section class="card"><h2>Findings</h2><p>Checks were not run.</p></section>'
    findings = report.findings or ()
    metas = catalog(report)
    counts = severity_counts(findings)
    count_html = "".join(
        f'<span><span class="sev sev-{s}">{s}</span> {counts[s]}</span>' for s in SEVERITIES
    )
    dims = sorted({dimension_of(f, metas) for f in findings}, key=_dim_order)
    options_sev = "".join(f'<option value="{s}">{s}</option>' for s in SEVERITIES)
    options_dim = "".join(f'<option value="{e(d)}">{e(d)}</option>' for d in dims)
    items = [_finding(f, metas) for f in findings]
    if not items:
        items = ['<p id="no-findings">No findings. Every check that ran passed.</p>']
    return (
        '<section class="card" id="findings"><h2>Findings</h2>'
        f'<p class="counts">{count_html}</p>'
        '<div class="filters">'
        '<label>Severity <select id="f-sev"><option value="">all</option>'
        f"{options_sev}</select></label>"
        '<label>Dimension <select id="f-dim"><option value="">all</option>'
        f"{options_dim}</select></label>"
        '<input id="f-q" type="search" placeholder="Filter by text, path or check"'
        ' aria-label="filter findings">'
        '<span class="meta" id="f-count"></span></div>' + "".join(items) + "</section>"
    )


def _dim_order(d: str) -> tuple[int, str]:
    return (DIMENSIONS.index(d) if d in DIMENSIONS else len(DIMENSIONS), d)


def _finding(f: Finding, metas: dict[str, CheckMeta]) -> str:
    dimension = dimension_of(f, metas)
    meta = metas.get(f.check_id)
    severity = str(f.severity)
    text = " ".join(str(x) for x in (f.check_id, f.name, f.message, f.path, f.remedy) if x).lower()
    parts = [
        f'<article class="finding" data-severity="{e(severity)}" '
        f'data-dimension="{e(dimension)}" data-text="{e(text)}">',
        f'<h3><span class="sev sev-{e(severity)}">{e(severity)}</span>'
        f"<span>{e(f.check_id)} {e(f.name)}</span>"
        f'<span class="dim">{e(dimension)}</span></h3>',
        f'<p class="msg">{e(f.message)}</p>',
    ]
    if f.path:
        parts.append(f'<p>at <span class="path">{e(f.path)}</span></p>')
    if f.paths:
        shown = "".join(f'<li><span class="path">{e(p)}</span></li>' for p in f.paths[:50])
        more = f"<li>…and {len(f.paths) - 50} more</li>" if len(f.paths) > 50 else ""
        parts.append(
            f"<details><summary>{len(f.paths)} paths</summary><ul>{shown}{more}</ul></details>"
        )
    if f.layer is not None:
        parts.append(
            f'<p class="meta">layer {e(f.layer)}: <code>'
            f"{e(shorten(f.created_by or '', 160))}</code></p>"
        )
    if f.bytes is not None:
        parts.append(f'<p class="meta">{e(human_bytes(f.bytes))} at stake</p>')
    if f.remedy:
        parts.append(f"<p><b>Fix:</b> {e(f.remedy)}</p>")
    if f.evidence:
        evidence = json.dumps(f.evidence, indent=2, sort_keys=True, ensure_ascii=False)
        parts.append(f"<details><summary>Evidence</summary><pre>{e(evidence)}</pre></details>")
    if meta is not None and meta.help:
        parts.append(f'<p><a href="#check-{e(f.check_id)}">About {e(f.check_id)}</a></p>')
    parts.append("</article>")
    return "".join(parts)


def _layers(report: Report) -> str:
    layers = report.image["layers"]
    bars = [
        Bar(
            f"#{ly['index']} {shorten(ly.get('created_by') or '', 60)}",
            int(ly.get("size") or 0),
            f"layer {ly['index']}: {human_bytes(ly.get('size'))} "
            f"({human_bytes(ly.get('compressed_size'))} compressed): {ly.get('created_by') or ''}",
            "empty" if ly.get("empty") else "",
        )
        for ly in layers
    ]
    chart = bar_chart(bars, title="Layer sizes", width=1100, label_width=440, label_chars=70)
    return f'<section class="card" id="layers"><h2>Layer sizes</h2>{chart}</section>'


def _directories(report: Report) -> str:
    dirs = (report.sizes or {}).get("directories") or []
    if not dirs:
        return ""
    bars = [Bar(d["path"], int(d["bytes"])) for d in dirs[:TOP_BARS]]
    chart = bar_chart(bars, title="Biggest directories", width=530, label_width=250, label_chars=38)
    return f'<section class="card" id="directories"><h2>Biggest directories</h2>{chart}</section>'


def _packages(report: Report) -> str:
    packages = (report.facts or {}).get("packages")
    if not packages:
        return ""
    biggest = sorted(packages, key=lambda p: (-(p.get("size") or 0), str(p.get("name"))))
    bars = [
        Bar(f"{p.get('name')} {p.get('version') or ''}".strip(), int(p.get("size") or 0))
        for p in biggest[:TOP_BARS]
    ]
    chart = bar_chart(
        bars, title="Biggest Python packages", width=530, label_width=250, label_chars=38
    )
    return (
        f'<section class="card" id="packages"><h2>Biggest Python packages '
        f'<span class="meta">({len(packages)} installed)</span></h2>{chart}</section>'
    )


def _waste(report: Report) -> str:
    waste = report.waste
    files = waste["files"]
    head = (
        f'<section class="card" id="waste"><h2>Wasted space: '
        f"{e(human_bytes(waste['wasted_bytes']))}</h2>"
        f'<p class="meta">Bytes written by one layer and overwritten or deleted by a later one '
        f"still ship in the image. Efficiency {waste['efficiency'] * 100:.1f}%.</p>"
    )
    if not files:
        return head + "<p>Nothing wasted.</p></section>"
    rows = "".join(
        f'<tr><td class="num">{e(human_bytes(w["wasted_bytes"]))}</td>'
        f"<td>{e(', '.join(map(str, w['layers'])))}</td>"
        f'<td><span class="path">{e(w["path"])}</span></td></tr>'
        for w in files[:MAX_WASTE_ROWS]
    )
    total = waste.get("files_total", len(files))
    more = (
        f'<p class="meta">…and {total - MAX_WASTE_ROWS} more files.</p>'
        if total > MAX_WASTE_ROWS
        else ""
    )
    return (
        head
        + '<table><thead><tr><th class="num">Wasted</th><th>Layers</th><th>Path</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>{more}</section>"
    )


def _check_doc(meta: CheckMeta | None) -> str:
    """The check's documentation, once per check (findings link here)."""
    if meta is None or not meta.help:
        return ""
    return f"<details><summary>{e(meta.title)}</summary><pre>{e(meta.help)}</pre></details>"


def _checks(report: Report) -> str:
    results = report.results or ()
    if not results:
        return ""
    counts = status_counts(results)
    metas = catalog(report)
    rows = "".join(
        f'<tr id="check-{e(r.check_id)}"><td>{e(r.check_id)}</td>'
        f"<td>{e(r.name)}{_check_doc(metas.get(r.check_id))}</td>"
        f'<td class="st-{e(r.status.value)}">{e(r.status.value)}</td><td>{e(r.reason or "")}'
        "</td></tr>"
        for r in results
    )
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    return (
        f'<section class="card" id="checks"><h2>Checks <span class="meta">({summary})</span>'
        "</h2><table><thead><tr><th>ID</th><th>Name</th><th>Status</th><th>Reason</th></tr>"
        f"</thead><tbody>{rows}</tbody></table></section>"
    )

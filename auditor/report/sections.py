"""The report's descriptive sections, made from the loaded image, and the report itself.

`content_sections` is everything the report takes from the layers' content: pure
data, which the per-image result cache keeps. `build_report` puts a report together
from them and the later steps' parts (facts, results, findings, scores). Output is
deterministic: sorted lists, no timestamps of our own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from auditor.findings import CheckResult, Finding
from auditor.loading import LoadedImage
from auditor.report.model import CheckMeta, Report
from auditor.scoring import Scores
from auditor.sizes import directory_sizes, top_directories

if TYPE_CHECKING:  # deferred: start-up time, see README "Performance"
    from auditor.fs import FileSystem

MAX_WASTE_FILES = 1000


def layer_sizes(loaded: LoadedImage) -> dict[str, Any]:
    """What the image section needs from the layers' content (the rest is the config)."""
    return {
        "layers": [
            {
                "size": index.size,
                "files": index.files,
                "empty": not (index.entries or index.whiteouts or index.opaque_dirs),
            }
            for index in loaded.indexes
        ],
        "final_size": loaded.fs.total_bytes,
    }


def image_section(loaded: LoadedImage, sizes: dict[str, Any] | None = None) -> dict[str, Any]:
    """`sizes`: `layer_sizes(loaded)`, given when the result cache holds it."""
    image = loaded.image
    sizes = sizes if sizes is not None else layer_sizes(loaded)
    raw_cfg = image.config.get("config")
    cfg: dict[str, Any] = raw_cfg if isinstance(raw_cfg, dict) else {}
    # No media type here: it names how a transport stored the bytes (docker save
    # rewrites it), not the image, and the report must not differ by transport.
    layers = []
    for layer, stats, created_by in zip(image.layers, sizes["layers"], loaded.created_by):
        layers.append(
            {
                "index": layer.index,
                "digest": layer.digest,
                "diff_id": layer.diff_id,
                "size": stats["size"],
                "compressed_size": layer.size,
                "files": stats["files"],
                "created_by": created_by,
                "empty": stats["empty"],
            }
        )
    compressed = [ly.size for ly in image.layers]
    return {
        "reference": image.reference,
        "digest": image.config_digest,
        "os": image.os,
        "architecture": image.architecture,
        "created": image.config.get("created"),
        "user": cfg.get("User") or "",
        "entrypoint": cfg.get("Entrypoint"),
        "cmd": cfg.get("Cmd"),
        "workdir": cfg.get("WorkingDir") or "",
        "env": list(cfg.get("Env") or []),
        "labels": dict(sorted((cfg.get("Labels") or {}).items())),
        "size": sum(ly["size"] for ly in layers),
        "final_size": sizes["final_size"],
        "compressed_size": None if None in compressed else sum(c or 0 for c in compressed),
        "layers": layers,
    }


def waste_section(loaded: LoadedImage) -> dict[str, Any]:
    fs = loaded.fs
    files = fs.waste()
    return {
        "wasted_bytes": fs.wasted_bytes,
        "written_bytes": fs.written_bytes,
        "efficiency": round(fs.efficiency, 6),
        "files_total": len(files),
        "files": [
            {"path": "/" + w.path, "wasted_bytes": w.wasted_bytes, "layers": list(w.layers)}
            for w in files[:MAX_WASTE_FILES]
        ],
    }


def sizes_section(loaded: LoadedImage) -> dict[str, Any]:
    top = top_directories(directory_sizes(loaded.fs))
    return {"directories": [{"path": p, "bytes": b} for p, b in top.items()]}


def content_sections(loaded: LoadedImage) -> dict[str, Any]:
    """Everything the report takes from the layers' content: pure data, which the
    per-image result cache keeps so that an unchanged image is reported unread."""
    return {
        "layer_sizes": layer_sizes(loaded),
        "waste": waste_section(loaded),
        "sizes": sizes_section(loaded),
        "skipped": skipped_section(loaded.fs),
    }


def skipped_section(fs: FileSystem) -> list[dict[str, Any]]:
    from auditor.layerindex import reader_limit  # deferred: start-up time, see README

    """What the reader did not model in full, each with its `kind`: `unmodelled` (the
    image holds it and imgaudit cannot model it: IN001 reports these) or `reader-limit`
    (imgaudit kept only part of it: a file over a capture limit, an ELF file whose link
    facts lie beyond what the streaming parser keeps; a limit of the reader, not a fact
    about the image, so no finding)."""
    out = [
        {"layer": ly, "entry": s, "kind": "reader-limit" if reader_limit(s) else "unmodelled"}
        for ly, s in fs.skipped
    ]
    for path, facts, reader_limited in fs.unreadable_elf_files():
        node = fs.get(path)
        if reader_limited and node is not None:
            entry = f"{path}: ELF link facts not read ({facts.reason})"
            out.append({"layer": node.layer, "entry": entry, "kind": "reader-limit"})
    return out


def build_report(
    loaded: LoadedImage,
    content: dict[str, Any] | None = None,
    *,
    facts: dict[str, Any] | None = None,
    results: Sequence[CheckResult] | None = None,
    findings: Sequence[Finding] | None = None,
    checks: Sequence[CheckMeta] | None = None,
    scores: Scores | None = None,
    config: dict[str, Any] | None = None,
    dockerfile: dict[str, Any] | None = None,
) -> Report:
    """The whole report; the later steps pass their parts (absent: not run, not scored).
    `content`: `content_sections(loaded)`, when the caller already has it."""
    content = content if content is not None else content_sections(loaded)
    return Report(
        source=loaded.image.source.to_json(),
        image=image_section(loaded, content["layer_sizes"]),
        waste=content["waste"],
        sizes=content["sizes"],
        skipped=tuple(content["skipped"]),
        facts=facts,
        results=tuple(results) if results is not None else None,
        findings=tuple(findings) if findings is not None else None,
        checks=tuple(checks) if checks is not None else None,
        scores=scores,
        config=config,
        dockerfile=dockerfile,
    )

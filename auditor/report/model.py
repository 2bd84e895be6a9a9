"""The report object: the JSON contract of design.md (schema_version 1).

Every output format renders this one dict; none recomputes anything. Output is
deterministic: sorted lists, no timestamps of our own.
"""

from __future__ import annotations

from typing import Any

from auditor import __version__
from auditor.loading import LoadedImage
from auditor.sizes import directory_sizes, top_directories

SCHEMA_VERSION = 1
MAX_WASTE_FILES = 1000


def layer_sizes(loaded: LoadedImage) -> dict[str, Any]:
    """What the image section needs from the layers' content (the rest is the config)."""
    return {
        "layers": [
            {
                "size": index.size,
                "files": sum(1 for e in index.entries if e.kind != "d"),
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
        "skipped": [{"layer": ly, "entry": s} for ly, s in loaded.fs.skipped],
    }


def build_report(
    loaded: LoadedImage, content: dict[str, Any] | None = None, **sections: Any
) -> dict[str, Any]:
    """The whole report; later steps (facts, results, findings, scores) pass their parts.
    `content`: `content_sections(loaded)`, when the caller already has it."""
    content = content if content is not None else content_sections(loaded)
    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "imgaudit", "version": __version__},
        "source": loaded.image.source.to_json(),
        "image": image_section(loaded, content["layer_sizes"]),
        "waste": content["waste"],
        "sizes": content["sizes"],
        "skipped": content["skipped"],
    }
    report.update(sections)
    return report

"""What a user's image reference names, apart from where it is read from.

`scan --record`, the fleet and PY004 key images by repository and tag: the same
image must get the same name whichever transport read it, so the transport prefix
(skopeo's spelling, auditor/sources) and a digest are dropped first.
"""

from __future__ import annotations

TRANSPORT_PREFIXES = (
    "docker-archive:",
    "oci-archive:",
    "oci:",
    "dir:",
    "docker-daemon:",
    "docker://",
)


def strip_transport(reference: str) -> str:
    """`docker://reg.io/app:1` -> `reg.io/app:1`; a reference without a prefix as it is."""
    for prefix in TRANSPORT_PREFIXES:
        if reference.startswith(prefix):
            return reference[len(prefix) :]
    return reference


def split_reference(reference: str) -> tuple[str, str]:
    """`docker://registry:5000/org/app:1.2@sha256:..` -> (`registry:5000/org/app`, `1.2`).

    A colon after the last slash starts the tag; one before it is a registry port."""
    ref = strip_transport(reference).split("@", 1)[0]
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1 :]
    return ref, ""


def repository(reference: str) -> str:
    """The repository alone: `myorg/base:3.11` -> `myorg/base`."""
    return split_reference(reference)[0]

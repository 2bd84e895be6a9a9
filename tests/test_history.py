"""Build history matched onto layers: empty_layer steps made no layer."""

from __future__ import annotations

from auditor.history import clean_step, created_by_per_layer


def config(*steps: tuple[str, bool]) -> dict:  # type: ignore[type-arg]
    return {
        "history": [{"created_by": s, **({"empty_layer": True} if e else {})} for s, e in steps]
    }


def test_empty_layer_steps_are_skipped_wherever_they_are() -> None:
    cfg = config(
        ("/bin/sh -c #(nop) ADD file:123 in / ", False),
        ('/bin/sh -c #(nop)  CMD ["bash"]', True),
        ("ENV A=1", True),
        ("RUN /bin/sh -c pip install x # buildkit", False),
        ("WORKDIR /app", True),
        ("COPY . /app # buildkit", False),
        ('CMD ["python"]', True),
    )
    assert created_by_per_layer(cfg, 3) == ["ADD file:123 in /", "RUN pip install x", "COPY . /app"]


def test_a_history_that_does_not_match_is_matched_as_far_as_it_goes() -> None:
    cfg = config(("RUN a", False), ("ENV X=1", True), ("RUN b", False))
    assert created_by_per_layer(cfg, 3) == ["RUN a", "RUN b", None]
    assert created_by_per_layer(cfg, 1) == ["RUN a"]
    assert created_by_per_layer({}, 2) == [None, None]
    assert created_by_per_layer({"history": "junk"}, 1) == [None]


def test_clean_step() -> None:
    assert clean_step("|2 A=1 B=2 /bin/sh -c make install") == "RUN make install"
    assert clean_step("/bin/sh -c apt-get update") == "RUN apt-get update"
    assert clean_step("/bin/sh -c #(nop) COPY dir:abc in /app ") == "COPY dir:abc in /app"
    assert clean_step("RUN /bin/sh -c echo hi # buildkit") == "RUN echo hi"

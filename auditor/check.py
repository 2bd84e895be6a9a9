"""What a check is: the module the runner is given, and the `Check` value made from it.

A check module (one per check in `checks/`, installed as `auditor.checks`) must define
`INFO` (its public identity), `run(ctx)` and a docstring (its user documentation:
`imgaudit explain ID`). Each optional part is stated by a protocol below, so that a
module's shape is a type, not a set of names the runner hopes to find:

- `OPTIONS` (`Configurable`): option -> default; the keys `[tool.imgaudit.checks.ID]`
  accepts, validated by auditor/config.py;
- `gather(ctx)` and `judge(ctx, gathered)` (`TwoPhase`): a check that compares with
  today's date gathers plain data from the image first (cached), then judges it
  against the date on every scan (auditor/runner.py);
- `OFFLOAD = True` (`Offloadable`): the check walks the tree on its own and may run in
  a second process beside the others (auditor/second_process.py);
- `INPUTS` (`UsesInputs`): the facts given from outside the image (`baseline`,
  `packages_index`: auditor/facts/__init__.py `GIVEN`) that the result depends on;
  they name the result in the result cache.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from auditor.findings import CheckInfo, Finding

if TYPE_CHECKING:
    from auditor.context import CheckContext

CheckFunction = Callable[["CheckContext"], Iterable[Finding]]
GatherFunction = Callable[["CheckContext"], Any]  # returns plain JSON data
JudgeFunction = Callable[["CheckContext", Any], Iterable[Finding]]

GIVEN = ("baseline", "packages_index")  # what `INPUTS` may name (Facts' given facts)


@runtime_checkable
class CheckModule(Protocol):
    INFO: CheckInfo

    def run(self, ctx: CheckContext) -> Iterable[Finding]: ...


@runtime_checkable
class Configurable(Protocol):
    OPTIONS: Mapping[str, Any]


@runtime_checkable
class TwoPhase(Protocol):
    def gather(self, ctx: CheckContext) -> Any: ...

    def judge(self, ctx: CheckContext, gathered: Any) -> Iterable[Finding]: ...


@runtime_checkable
class Offloadable(Protocol):
    OFFLOAD: bool


@runtime_checkable
class UsesInputs(Protocol):
    INPUTS: tuple[str, ...]


@dataclass(frozen=True)
class Check:
    info: CheckInfo
    run: CheckFunction
    doc: str
    options: dict[str, Any] = field(default_factory=dict)  # option -> default (config keys)
    gather: GatherFunction | None = None  # two-phase checks (dated): see auditor/runner.py
    judge: JudgeFunction | None = None
    offload: bool = False  # may run in a second process (auditor/runner.py)
    inputs: tuple[str, ...] = ()  # given facts the result depends on (GIVEN)

    @classmethod
    def from_module(cls, module: ModuleType) -> Check:
        if not isinstance(module, CheckModule):
            raise TypeError(f"{module.__name__}: a check module defines INFO and run(ctx)")
        options = dict(module.OPTIONS) if isinstance(module, Configurable) else {}
        gather = judge = None
        if isinstance(module, TwoPhase):
            gather, judge = module.gather, module.judge
        elif hasattr(module, "gather") or hasattr(module, "judge"):
            raise TypeError(f"{module.__name__}: a two-phase check defines gather and judge")
        offload = bool(module.OFFLOAD) if isinstance(module, Offloadable) else False
        inputs = tuple(module.INPUTS) if isinstance(module, UsesInputs) else ()
        unknown = sorted(set(inputs) - set(GIVEN))
        if unknown:
            raise TypeError(f"{module.__name__}: INPUTS names no given fact: {unknown}")
        doc = (module.__doc__ or "").strip()
        return cls(module.INFO, module.run, doc, options, gather, judge, offload, inputs)

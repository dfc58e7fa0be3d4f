"""What every part of the planner shares: the options, the inputs and the findings so far."""

from __future__ import annotations

from dataclasses import dataclass, field

from lmsctl.addresses import Address, matches_targets
from lmsctl.errors import Diagnostic, Severity
from lmsctl.lms import LmsProfile, profile
from lmsctl.model import DesiredState, DriftPolicy, SourcePos
from lmsctl.plan.model import Change, Conflict, ConsentNeed, Drift, StateFix
from lmsctl.refresh import LiveState
from lmsctl.state.model import StateSnapshot


@dataclass(frozen=True)
class PlanOptions:
    revert_drift: bool = False
    force: bool = False
    targets: tuple[Address, ...] = ()
    now: str = ""  # Clever-format UTC timestamp; "" = no past-date check


@dataclass
class Findings:
    """Everything the planner found so far (the plan's content before it is sorted)."""

    changes: list[Change] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    fixes: list[StateFix] = field(default_factory=list)
    consents: list[ConsentNeed] = field(default_factory=list)
    diags: list[Diagnostic] = field(default_factory=list)

    def diag(
        self, pos: SourcePos, where: str, message: str, hint: str = "", *, warn: bool = False
    ) -> None:
        self.diags.append(
            Diagnostic.at(
                pos,
                message,
                hint,
                severity=Severity.WARNING if warn else Severity.ERROR,
                where=where,
                rule="plan",
            )
        )


@dataclass
class PlanContext:
    """The planner's inputs, the district's LMS, and the findings it adds to."""

    desired: DesiredState
    snapshot: StateSnapshot
    live: LiveState
    options: PlanOptions
    findings: Findings = field(default_factory=Findings)
    #: the district's ``lms_type`` as Clever reports it, and its profile
    lms_type: str = field(init=False)
    lms: LmsProfile = field(init=False)

    def __post_init__(self) -> None:
        self.lms_type = str(self.live.district.get("lms_type") or "")
        self.lms = profile(self.lms_type)

    @property
    def revert_drift(self) -> bool:
        """True when drift is put back: ``--revert-drift`` or ``policies.on_drift: revert``."""
        policy = self.desired.config.policies.on_drift
        return self.options.revert_drift or policy is DriftPolicy.REVERT

    def targeted(self, address: str) -> bool:
        """True when no --target is given, or ``address`` falls under one (a grade target
        selects its assignment too, but not the assignment's other grades)."""
        targets = list(self.options.targets)
        return not targets or matches_targets(address, targets)

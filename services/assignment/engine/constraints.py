"""The hard constraints: each a small function of one reader and one exam, returning a
Failure with a detail a person can act on (staff and codes only, never patient data), or
None when the reader passes. `judge` checks them in Constraint order.

The read date is `now`'s date in UTC: a licence, privilege, contract or role whose period
ends on 2026-11-29 covers reads until 2026-11-29 23:59:59 UTC. A contract's coverage hours
are judged at the time the order was placed: they say which orders the contract takes, and
an order taken is read (or routed again) after they close.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from services.assignment.engine.clock import (
    describe_local,
    describe_shifts,
    shift_in_force,
    zone,
)
from services.assignment.engine.model import (
    Constraint,
    Contract,
    Exam,
    Failure,
    Licence,
    Privilege,
    Reader,
)
from services.assignment.engine.workload import Workload

PRIMARY = frozenset({"primary"})
ANY_KIND = frozenset({"primary", "overflow"})


@dataclass(slots=True)
class Context:
    """One exam at one instant, with what every reader's checks share."""

    exam: Exam
    now: datetime
    workload: Workload
    contracts: Mapping[tuple[str, str], tuple[Contract, ...]]  # (facility, group) -> by id
    licences: Mapping[str, Mapping[str, tuple[Licence, ...]]]  # reader -> state -> licences
    privileges: Mapping[str, Mapping[str, tuple[Privilege, ...]]]  # reader -> facility -> ...
    kinds: frozenset[str] = PRIMARY  # contract kinds that make a reader eligible
    stat_bypasses_capacity: bool = True
    day: date = field(init=False)
    priorities: frozenset[str] = field(init=False)  # the exam's, and stat for a stroke
    _locals: dict[str, datetime | None] = field(init=False, default_factory=dict)
    _ordered: dict[str, datetime | None] = field(init=False, default_factory=dict)
    _covers: dict[str, str | None] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.day = self.now.astimezone(UTC).date()
        stroke = {"stat", "stroke"} if self.exam.stroke else set()
        self.priorities = frozenset({self.exam.priority, *stroke})

    def local(self, zone_name: str) -> datetime | None:
        """`now` on the wall clock of `zone_name` (None for an unknown zone)."""
        if zone_name not in self._locals:
            tz = zone(zone_name)
            self._locals[zone_name] = None if tz is None else self.now.astimezone(tz)
        return self._locals[zone_name]

    def ordered_local(self, zone_name: str) -> datetime | None:
        """When the exam was ordered, on the wall clock of `zone_name` (None: unknown zone)."""
        if zone_name not in self._ordered:
            tz = zone(zone_name)
            self._ordered[zone_name] = None if tz is None else self.exam.ordered_at.astimezone(tz)
        return self._ordered[zone_name]

    def uncovered(self, contract: Contract) -> str | None:
        """Why `contract` does not cover this exam now (None when it does)."""
        if contract.id not in self._covers:
            self._covers[contract.id] = contract_gap(contract, self)
        return self._covers[contract.id]


def contract_gap(contract: Contract, ctx: Context) -> str | None:
    """Why `contract` does not cover the exam at ctx.now, or None."""
    exam, name = ctx.exam, f"Contract {contract.id}"
    if not contract.active or not contract.span.covers(ctx.day):
        return f"{name} is not in force on {ctx.day.isoformat()}"
    if contract.kind not in ctx.kinds:
        return f"{name} is an {contract.kind} contract (used only when its group assigns)"
    if contract.modalities and exam.modality not in contract.modalities:
        return f"{name} does not cover {exam.modality or 'an unknown modality'}"
    if contract.priorities and not contract.priorities & ctx.priorities:
        return f"{name} does not cover {'stroke' if exam.stroke else exam.priority} exams"
    if contract.hours:
        # The hours say which orders the contract takes: those placed within them, read
        # even after they close (an order in at 19:55 is still ours at 20:05).
        ordered = ctx.ordered_local(contract.timezone)
        if ordered is None:
            return f"{name} has an unknown time zone {contract.timezone}"
        if shift_in_force(contract.hours, ordered) is None:
            return (
                f"{name} does not cover orders placed {describe_local(ordered, contract.timezone)}"
                f" (hours {describe_shifts(contract.hours)})"
            )
    return None


def _failure(constraint: Constraint, detail: str) -> Failure:
    return Failure(constraint, detail)


def check_active(reader: Reader, ctx: Context) -> Failure | None:
    """The reader's role is active and in its period on the read date."""
    if not reader.active:
        return _failure(Constraint.ACTIVE, "Reading role is inactive")
    if not reader.span.covers(ctx.day):
        return _failure(Constraint.ACTIVE, f"Reading role is not in force on {ctx.day.isoformat()}")
    return None


def check_licence(reader: Reader, ctx: Context) -> Failure | None:
    """An active licence in the patient's state covering the read date."""
    state = ctx.exam.state
    if not state:
        return _failure(Constraint.LICENCE, "The patient's state is unknown")
    licences = ctx.licences.get(reader.id, {}).get(state, ())
    if any(licence.span.covers(ctx.day) for licence in licences):
        return None
    expired = " (expired or not yet valid)" if licences else ""
    return _failure(
        Constraint.LICENCE, f"No active licence in {state} on {ctx.day.isoformat()}{expired}"
    )


def check_privileges(reader: Reader, ctx: Context) -> Failure | None:
    """Privileges at the ordering facility covering the read date."""
    facility = ctx.exam.facility
    if not facility:
        return _failure(Constraint.PRIVILEGES, "The order names no ordering facility")
    privileges = ctx.privileges.get(reader.id, {}).get(facility, ())
    if any(privilege.span.covers(ctx.day) for privilege in privileges):
        return None
    expired = " (expired or not yet valid)" if privileges else ""
    return _failure(
        Constraint.PRIVILEGES,
        f"No privileges at facility {facility} on {ctx.day.isoformat()}{expired}",
    )


def covering_contract(reader: Reader, ctx: Context) -> tuple[Contract | None, Failure | None]:
    """The first contract (by id) of the reader's group with the facility covering the
    exam's modality, priority and hour -- else why none does."""
    contracts = ctx.contracts.get((ctx.exam.facility or "", reader.group), ())
    if not contracts:
        return None, _failure(
            Constraint.CONTRACT,
            f"No contract between group {reader.group} and facility {ctx.exam.facility}",
        )
    gaps = []
    for contract in contracts:
        gap = ctx.uncovered(contract)
        if gap is None:
            return contract, None
        gaps.append(gap)
    return None, _failure(Constraint.CONTRACT, "; ".join(gaps))


def check_modality(reader: Reader, ctx: Context) -> Failure | None:
    """The reader reads the exam's modality."""
    modality = ctx.exam.modality
    if not modality:
        return _failure(Constraint.MODALITY, "The exam's modality is unknown")
    if modality in reader.modalities:
        return None
    reads = ", ".join(sorted(reader.modalities)) or "none"
    return _failure(Constraint.MODALITY, f"Does not read {modality} (reads {reads})")


def check_subspecialty(reader: Reader, ctx: Context, contract: Contract | None) -> Failure | None:
    """A subspecialist when the contract asks one for this exam code."""
    code = ctx.exam.code
    if contract is None or not code:
        return None
    needed = contract.subspecialist_exams.get(code)
    if needed is None or needed in reader.subspecialties:
        return None
    return _failure(
        Constraint.SUBSPECIALTY,
        f"Contract {contract.id} requires a {needed} subspecialist for exam {code}",
    )


def check_shift(reader: Reader, ctx: Context) -> Failure | None:
    """On shift now in the reader's own zone and not in an unavailable window. A reader
    with no shifts published is taken to read around the clock."""
    for start, end in reader.unavailable:
        if start <= ctx.now < end:
            until = end.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
            return _failure(Constraint.SHIFT, f"Unavailable until {until}")
    if not reader.shifts:
        return None
    local = ctx.local(reader.timezone)
    if local is None:
        return _failure(Constraint.SHIFT, f"Unknown time zone {reader.timezone}")
    if shift_in_force(reader.shifts, local) is not None:
        return None
    return _failure(
        Constraint.SHIFT,
        f"Off shift: {describe_local(local, reader.timezone)},"
        f" shifts {describe_shifts(reader.shifts)}",
    )


def check_conflict(reader: Reader, ctx: Context) -> Failure | None:
    """Not excluded from this exam (a second read, a reader who declined it)."""
    if reader.practitioner in ctx.exam.excluded:
        return _failure(
            Constraint.CONFLICT, "Excluded from this exam (second read, or declined it)"
        )
    return None


def check_capacity(reader: Reader, ctx: Context) -> Failure | None:
    """Open reads below the cap and RVUs of the last hour within the hourly cap; STAT and
    stroke may bypass both (when set), never any other constraint."""
    exam = ctx.exam
    if ctx.stat_bypasses_capacity and (exam.stroke or exam.priority == "stat"):
        return None
    if reader.max_open_tasks is not None:
        count = ctx.workload.open_count(reader.id)
        if count >= reader.max_open_tasks:
            return _failure(
                Constraint.CAPACITY,
                f"At capacity: {count} open reads (max {reader.max_open_tasks})",
            )
    if reader.max_rvu_per_hour is not None:
        recent = ctx.workload.rvu_last_hour(reader.id, ctx.now)
        if recent + exam.rvu > reader.max_rvu_per_hour:
            return _failure(
                Constraint.CAPACITY,
                f"RVU cap: {recent:.2f} assigned in the last hour + {exam.rvu:.2f}"
                f" > {reader.max_rvu_per_hour:.2f} per hour",
            )
    return None


def judge(
    reader: Reader, ctx: Context, *, all_failures: bool = True
) -> tuple[tuple[Failure, ...], Contract | None]:
    """The reader's failures in Constraint order (only the first unless `all_failures`)
    and the contract covering the exam for them."""
    found: list[Failure] = []

    def failed(failure: Failure | None) -> bool:
        if failure is not None:
            found.append(failure)
        return failure is not None and not all_failures

    if failed(check_active(reader, ctx)) or failed(check_licence(reader, ctx)):
        return tuple(found), None
    if failed(check_privileges(reader, ctx)):
        return tuple(found), None
    contract, gap = covering_contract(reader, ctx)
    if failed(gap) or failed(check_modality(reader, ctx)):
        return tuple(found), None
    # Without a covering contract, the explanation still says whether the group's
    # contract with the facility asks a subspecialist for this exam.
    rules = contract or next(
        iter(ctx.contracts.get((ctx.exam.facility or "", reader.group), ())), None
    )
    if failed(check_subspecialty(reader, ctx, rules)):
        return tuple(found), None
    for check in (check_shift, check_conflict, check_capacity):
        if failed(check(reader, ctx)):
            return tuple(found), None
    return tuple(found), contract


_BLOCKED_AS = {
    Constraint.ACTIVE: "inactive",
    Constraint.PRIVILEGES: "without privileges at the facility",
    Constraint.CONTRACT: "not covered by a contract",
    Constraint.SUBSPECIALTY: "not the subspecialist the contract requires",
    Constraint.SHIFT: "off shift or unavailable",
    Constraint.CONFLICT: "excluded (conflict)",
    Constraint.CAPACITY: "at capacity",
}


def _blocked_as(constraint: Constraint, exam: Exam) -> str:
    if constraint is Constraint.LICENCE:
        return (
            f"without a {exam.state} licence" if exam.state else "without a licence (state unknown)"
        )
    if constraint is Constraint.MODALITY:
        return f"not reading {exam.modality}" if exam.modality else "modality unknown"
    return _BLOCKED_AS[constraint]


def nobody_reason(blocked: Counter[Constraint], exam: Exam) -> str:
    """'No eligible reader: 5 off shift or unavailable, 3 without a TX licence'."""
    if not blocked:
        return "No eligible reader: no reader in the roster"
    order = list(Constraint)
    ranked = sorted(blocked.items(), key=lambda item: (-item[1], order.index(item[0])))
    return "No eligible reader: " + ", ".join(
        f"{count} {_blocked_as(constraint, exam)}" for constraint, count in ranked
    )

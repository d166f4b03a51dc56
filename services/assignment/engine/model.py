"""What the assignment engine reasons about, free of FHIR and of storage.

The roster (Reader, Contract) is built from FHIR resources by services.assignment.roster
and replaced whole when it changes; the workload (Work) mirrors the open read Tasks. The
engine (services.assignment.engine.engine) decides over these values only, so the service,
its tests and the simulated day (bench/assign) all drive the same code.

Times are timezone-aware datetimes in UTC; a Shift is wall-clock time in its own zone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from types import MappingProxyType

PRIORITIES = ("stat", "asap", "urgent", "routine")  # FHIR request-priority, most urgent first
URGENCY = MappingProxyType({p: rank for rank, p in enumerate(PRIORITIES)})
_NO_TARGETS: Mapping[str, timedelta] = MappingProxyType({})
_NO_EXAMS: Mapping[str, str] = MappingProxyType({})


class Constraint(StrEnum):
    """The hard constraints, in the order they are checked (code system
    .../CodeSystem/assignment-constraint, documented in docs/assignment.md)."""

    ACTIVE = "active"  # the reader's role is in force
    LICENCE = "licence"  # active licence in the patient's state on the read date
    PRIVILEGES = "privileges"  # active privileges at the ordering facility
    CONTRACT = "contract"  # an active contract of the reader's group covers the exam
    MODALITY = "modality"  # the reader reads this modality
    SUBSPECIALTY = "subspecialty"  # the contract asks a subspecialist for this exam
    SHIFT = "shift"  # on shift now, in the reader's own time zone, and not unavailable
    CONFLICT = "conflict"  # e.g. a second read goes to someone else; a reader who declined
    CAPACITY = "capacity"  # open Tasks and RVU per hour within the reader's caps


@dataclass(frozen=True, slots=True)
class Span:
    """A period of days; an open end is unbounded. Both ends count."""

    start: date | None = None
    end: date | None = None

    def covers(self, day: date) -> bool:
        return (self.start is None or self.start <= day) and (self.end is None or day <= self.end)


@dataclass(frozen=True, slots=True)
class Shift:
    """Weekly hours in a time zone: on `days` (0 = Monday) from `start` to `end`, wall
    clock. An `end` at or before `start` runs past midnight into the next day."""

    days: frozenset[int]
    start: time
    end: time


@dataclass(frozen=True, slots=True)
class Licence:
    state: str  # USPS code
    span: Span = Span()


@dataclass(frozen=True, slots=True)
class Privilege:
    facility: str  # Organization id
    span: Span = Span()


@dataclass(frozen=True, slots=True)
class Reader:
    """One radiologist's reading role: the PractitionerRole a Task is assigned to."""

    id: str  # PractitionerRole id (the Task owner)
    practitioner: str  # Practitioner id
    name: str  # for explanations (staff, not patient, data)
    group: str  # Organization id: the reading group or partner vendor
    timezone: str  # IANA zone of the radiologist's shifts
    licences: tuple[Licence, ...] = ()
    privileges: tuple[Privilege, ...] = ()
    modalities: frozenset[str] = frozenset()  # DICOM modality codes
    subspecialties: frozenset[str] = frozenset()  # .../CodeSystem/subspecialty codes
    shifts: tuple[Shift, ...] = ()
    unavailable: tuple[tuple[datetime, datetime], ...] = ()  # notAvailable windows
    max_open_tasks: int | None = None
    max_rvu_per_hour: float | None = None
    span: Span = Span()
    active: bool = True


@dataclass(frozen=True, slots=True)
class Contract:
    """A facility's contract with a reading group (kind "primary") or a partner vendor
    taking overflow (kind "overflow"): an OrganizationAffiliation."""

    id: str
    facility: str  # Organization id of the client facility
    group: str  # Organization id of the reading group or vendor
    kind: str = "primary"  # primary | overflow
    span: Span = Span()
    active: bool = True
    modalities: frozenset[str] = frozenset()  # empty: every modality
    priorities: frozenset[str] = frozenset()  # empty: every priority
    hours: tuple[Shift, ...] = ()  # empty: around the clock
    timezone: str = "UTC"  # of `hours`
    # A mappingproxy is not a default dataclasses accept (unhashable): hence the factories.
    targets: Mapping[str, timedelta] = field(default_factory=lambda: _NO_TARGETS)  # per priority
    subspecialist_exams: Mapping[str, str] = field(default_factory=lambda: _NO_EXAMS)  # code -> sub


@dataclass(frozen=True, slots=True)
class Roster:
    readers: tuple[Reader, ...] = ()
    contracts: tuple[Contract, ...] = ()


@dataclass(frozen=True, slots=True)
class Exam:
    """What the engine needs to know of one order."""

    order_id: str
    facility: str | None  # Organization id of the ordering facility
    state: str | None  # USPS code where the patient was imaged
    code: str | None  # exam code (CPT)
    modality: str | None  # DICOM modality code
    priority: str  # FHIR request-priority
    ordered_at: datetime
    rvu: float
    read_minutes: float
    patient: str | None = None  # Patient id, for keeping one patient's studies together
    stroke: bool = False
    subspecialty: str | None = None  # preferred subspecialty for this exam, if any
    excluded: frozenset[str] = frozenset()  # Practitioner ids who may not read it
    deadline: datetime | None = None  # set when known (else from the contract's target)


@dataclass(slots=True)
class Work:
    """One open read: a Task with an owner, as the engine counts it."""

    order_id: str
    reader: str  # Reader.id
    priority: str
    rvu: float
    read_minutes: float
    deadline: datetime
    assigned_at: datetime
    patient: str | None = None
    started_at: datetime | None = None  # reading began (Task in-progress)
    stroke: bool = False
    exam: Exam | None = None  # what is read, to judge the reader again later (if known)


@dataclass(frozen=True, slots=True)
class Failure:
    constraint: Constraint
    detail: str


@dataclass(frozen=True, slots=True)
class Score:
    """How good an eligible reader is for the exam: lower is better. `parts` names each
    term of `total` (docs/assignment.md, "Choosing among the eligible")."""

    total: float
    parts: Mapping[str, float]
    predicted_completion: datetime


@dataclass(frozen=True, slots=True)
class Candidate:
    reader: Reader
    failures: tuple[Failure, ...] = ()
    score: Score | None = None  # set for the eligible only
    contract: Contract | None = None  # the contract that covers the exam for this reader

    @property
    def eligible(self) -> bool:
        return not self.failures


@dataclass(frozen=True, slots=True)
class Decision:
    """The engine's answer for one exam: a reader, else a partner vendor's contract
    (overflow), else nobody -- with the reason and the deadline it was judged against."""

    exam: Exam
    deadline: datetime
    reason: str
    reader: Reader | None = None
    contract: Contract | None = None  # covering the chosen reader, or the overflow contract
    score: Score | None = None
    candidates: tuple[Candidate, ...] = field(default=(), repr=False)  # when explained

    @property
    def overflow(self) -> bool:
        return self.reader is None and self.contract is not None

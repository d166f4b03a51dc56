"""The demo roster's people and contracts (services.assignment.seed loads them).

Follow the sun: the platform's reading group, Meridian, covers its six client facilities
around the clock with three sites whose day shifts overlap by two hours or more whatever
the daylight-saving season -- Sydney (07:00-18:00, about 20:00-08:00 UTC), Zurich
(06:00-16:00, about 04:00-15:00 UTC) and the US (New York 08:00-20:00 or Denver
06:00-18:00, about 12:00-01:00 UTC). At each site one general radiologist works Monday to
Thursday and another Thursday to Sunday, both licensed in all six states with privileges
at all six facilities, and so do two neuroradiologists (CT and MR), who read the brain MRI
some contracts reserve for them and share the CT load when a site is on alone: the whole
demo (16 orders at once) fits within their caps at any hour. The others, Dr Chen among
them, hold fewer licences and privileges, as most readers do: some privileges make no
reader (no licence in the state, a lapsed licence, lapsed privileges), and Summit's knee
and lumbar MRI wait for a musculoskeletal radiologist's weekday hours, as subspecialist
reads do. Nightwatch, the partner vendor, takes urgent overflow at night for three
facilities with two radiologists of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

# The intake demo facilities (services.intake.seed.FACILITIES keys) and reading groups.
DAL, LA, CHI, TPA, DEN, ALB = (
    "mercy-dallas",
    "harbor-la",
    "lakeside-chicago",
    "bayview-tampa",
    "summit-denver",
    "hudson-albany",
)
MERIDIAN, NIGHTWATCH = "meridian", "nightwatch"  # intake's OPERATOR and VENDORS keys
EVERY_STATE = ("TX", "CA", "IL", "FL", "CO", "NY")
EVERY_FACILITY = (DAL, LA, CHI, TPA, DEN, ALB)
GENERAL = ("CT", "MR", "DX", "US")
EARLY_WEEK = ("mon", "tue", "wed", "thu")
LATE_WEEK = ("thu", "fri", "sat", "sun")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
SYDNEY, ZURICH = "Australia/Sydney", "Europe/Zurich"
NEW_YORK, CHICAGO, DENVER, LOS_ANGELES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
)


@dataclass(frozen=True, slots=True)
class Hours:
    """A radiologist's weekly shift, as the membership role's availableTime says it."""

    zone: str  # IANA
    days: tuple[str, ...]  # FHIR days-of-week
    start: str  # FHIR time; an end before the start runs past midnight
    end: str


@dataclass(frozen=True, slots=True)
class Radiologist:
    family: str
    given: str
    npi: str
    licensed: tuple[str, ...]  # states (USPS codes) of the active licences
    privileged: tuple[str, ...]  # intake demo facility keys (services.intake.seed)
    shift: Hours
    subspecialties: tuple[str, ...] = ()  # .../CodeSystem/subspecialty codes
    modalities: tuple[str, ...] = GENERAL
    group: str = MERIDIAN
    lapsed: tuple[str, ...] = ()  # states of licences that ended (seed.LAPSED)
    lapsed_privileges: tuple[str, ...] = ()  # facilities whose privileges ended
    max_open_tasks: int = 10
    max_rvu_per_hour: float = 8.0
    leave: tuple[str, str] | None = None  # notAvailable dates (start, end)


def _general(family: str, given: str, npi: str, shift: Hours, *sub: str) -> Radiologist:
    """A general radiologist of a follow-the-sun site: every state, every facility."""
    return Radiologist(
        family,
        given,
        npi,
        EVERY_STATE,
        EVERY_FACILITY,
        shift,
        sub,
        max_open_tasks=14,
        max_rvu_per_hour=12.0,
    )


def _neuro(family: str, given: str, npi: str, shift: Hours) -> Radiologist:
    """A neuroradiologist of a follow-the-sun site: every state, every facility."""
    return Radiologist(
        family,
        given,
        npi,
        EVERY_STATE,
        EVERY_FACILITY,
        shift,
        ("neuro",),
        ("CT", "MR"),
        max_open_tasks=10,
        max_rvu_per_hour=10.0,
    )


_SYDNEY_EARLY, _SYDNEY_LATE = (
    Hours(SYDNEY, d, "07:00:00", "18:00:00") for d in (EARLY_WEEK, LATE_WEEK)
)
_ZURICH_EARLY, _ZURICH_LATE = (
    Hours(ZURICH, d, "06:00:00", "16:00:00") for d in (EARLY_WEEK, LATE_WEEK)
)
_US_EARLY = Hours(DENVER, EARLY_WEEK, "06:00:00", "18:00:00")
_US_LATE = Hours(NEW_YORK, LATE_WEEK, "08:00:00", "20:00:00")
_NIGHTS = Hours(CHICAGO, ("sun", "mon", "tue", "wed"), "19:00:00", "07:00:00")
_LATE_NIGHTS = Hours(CHICAGO, ("wed", "thu", "fri", "sat"), "19:00:00", "07:00:00")

ROSTER = (
    # Dr Chen (the development client radiologist-chen): US evenings into the night.
    Radiologist(
        "Chen",
        "Wei",
        "1900012174",
        ("TX", "CA", "NY"),
        (DAL, LA, ALB),
        Hours(CHICAGO, WEEKDAYS, "15:00:00", "01:00:00"),
        ("neuro", "body"),
    ),
    # The follow-the-sun sites: together, around the clock.
    _general("Campbell", "Fiona", "1900257910", _SYDNEY_EARLY, "body", "chest"),
    _general("Nguyen", "Thanh", "1900369624", _SYDNEY_LATE, "body"),
    _neuro("Walsh", "Declan", "1900481338", _SYDNEY_EARLY),
    _neuro("Tanaka", "Hiroshi", "1900593041", _SYDNEY_LATE),
    _general("Keller", "Anna", "1900704754", _ZURICH_EARLY, "chest"),
    _general("Brunner", "Lukas", "1900816467", _ZURICH_LATE, "body"),
    _neuro("Meier", "Sabine", "1900928171", _ZURICH_EARLY),
    _neuro("Conti", "Giulia", "1901039887", _ZURICH_LATE),
    _general("Novak", "Petra", "1900056858", _US_EARLY, "body"),
    _general("Kim", "Soo-jin", "1900101530", _US_LATE, "chest"),
    _neuro("Haddad", "Leila", "1900045687", _US_EARLY),
    _neuro("Fitzgerald", "Claire", "1900112701", _US_LATE),
    # US day readers with fewer licences and privileges.
    Radiologist(
        "Alvarez",
        "Sofia",
        "1900023346",
        ("TX", "FL"),
        (DAL, TPA),
        Hours(CHICAGO, WEEKDAYS, "07:00:00", "17:00:00"),
        ("body",),
    ),
    Radiologist(
        "Whitfield",
        "Thomas",
        "1900034517",
        ("CA", "CO"),
        (LA, DEN),
        Hours(LOS_ANGELES, WEEKDAYS, "07:00:00", "17:00:00"),
        ("msk",),
        ("MR", "DX", "CT"),
        lapsed_privileges=(DEN,),  # Summit's credentialing was not renewed
        leave=("2026-12-21", "2027-01-03"),
    ),
    Radiologist(
        "Adeyemi",
        "Tunde",
        "1900068028",
        ("FL", "NY"),
        (TPA, ALB),
        Hours(NEW_YORK, ("sat", "sun"), "08:00:00", "20:00:00"),
        ("chest",),
        ("CT", "DX"),
    ),
    Radiologist(
        "Larsen",
        "Erik",
        "1900079199",
        ("CA",),
        (LA,),
        Hours(LOS_ANGELES, WEEKDAYS, "09:00:00", "17:00:00"),
        ("pediatric",),
        ("DX", "US", "MR"),
        max_open_tasks=6,
    ),
    Radiologist(
        "Morales",
        "Diego",
        "1900090360",
        ("TX", "CO"),
        (DAL, DEN),
        Hours(DENVER, ("mon", "tue", "wed"), "08:00:00", "18:00:00"),
        ("msk",),
        ("MR", "DX", "CT"),
    ),
    # Privileges in Dallas without a Texas licence: never eligible there.
    Radiologist(
        "Rossi",
        "Marco",
        "1900123872",
        ("FL",),
        (TPA, DAL),
        Hours(NEW_YORK, WEEKDAYS, "08:00:00", "16:00:00"),
        ("breast",),
        ("MG", "US"),
    ),
    # A lapsed Texas licence: eligible in Denver, not in Dallas.
    Radiologist(
        "Singh",
        "Harpreet",
        "1900135041",
        ("CO", "CA"),
        (DEN, DAL),
        Hours(DENVER, ("thu", "fri", "sat"), "12:00:00", "22:00:00"),
        ("body",),
        lapsed=("TX",),
    ),
    # Nightwatch, the partner vendor: nights in Austin, for its overflow contracts.
    Radiologist(
        "Brooks",
        "Jordan",
        "1901151591",
        ("TX", "FL", "CO"),
        (DAL, TPA, DEN),
        _NIGHTS,
        ("body",),
        ("CT", "DX", "US"),
        group=NIGHTWATCH,
    ),
    Radiologist(
        "Ramirez",
        "Elena",
        "1901263305",
        ("TX", "FL", "CO"),
        (DAL, TPA, DEN),
        _LATE_NIGHTS,
        ("neuro",),
        ("CT", "DX", "US"),
        group=NIGHTWATCH,
    ),
)

# Turnaround targets in minutes (../shared/docs/domain.md: stroke <= 20 min, emergent 1 h,
# urgent 12 h, routine up to days).
TARGETS = {"stat": 60, "stroke": 20, "asap": 240, "urgent": 720, "routine": 1440}


@dataclass(frozen=True, slots=True)
class ContractTerms:
    facility: str  # intake demo facility key
    group: str = MERIDIAN
    kind: str = "primary"
    targets: tuple[tuple[str, int, str], ...] = tuple((p, m, "min") for p, m in TARGETS.items())
    subspecialist_exams: tuple[tuple[str, str], ...] = ()  # (CPT, subspecialty)
    modalities: tuple[str, ...] = ()  # empty: every modality
    priorities: tuple[str, ...] = ()  # empty: every priority
    hours: tuple[str, str, str] | None = None  # (zone, start, end) every day; None: always


_BRAIN_MRI = (("70551", "neuro"),)
_OVERNIGHT = (CHICAGO, "19:00:00", "07:00:00")
CONTRACTS = (
    ContractTerms(
        DAL,
        targets=(
            ("stat", 30, "min"),
            ("stroke", 20, "min"),
            ("asap", 4, "h"),
            ("urgent", 12, "h"),
            ("routine", 24, "h"),
        ),
    ),
    # An imaging centre: no stroke service, routine within two days.
    ContractTerms(
        LA,
        targets=(
            ("stat", 60, "min"),
            ("asap", 240, "min"),
            ("urgent", 720, "min"),
            ("routine", 48, "h"),
        ),
    ),
    ContractTerms(CHI, subspecialist_exams=_BRAIN_MRI),
    ContractTerms(TPA),
    ContractTerms(
        DEN, modalities=GENERAL, subspecialist_exams=(("73721", "msk"), ("72148", "msk"))
    ),
    ContractTerms(ALB, subspecialist_exams=_BRAIN_MRI),
    *(
        ContractTerms(
            facility,
            group=NIGHTWATCH,
            kind="overflow",
            targets=tuple((p, m, "min") for p, m in TARGETS.items() if p != "routine"),
            modalities=("CT", "DX", "US"),
            priorities=("stat", "asap", "urgent"),
            hours=_OVERNIGHT,
        )
        for facility in (DAL, TPA, DEN)
    ),
)

"""The roster in FHIR, read into the engine's model: one Reader per membership role, with
its radiologist's licences and facility privileges, its shifts in its own zone, absences,
capacity, modalities and subspecialties; one Contract per affiliation, with its coverage,
turnaround targets and subspecialist exams."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from services.assignment import codes
from services.assignment.contracts import contract_from_fhir
from services.assignment.engine.model import Licence, Privilege, Shift, Span
from services.assignment.roster import roster_from_fhir
from services.assignment.tests.builders import facility_role, licence, radiologist
from services.assignment.tests.roster_builders import (
    capacity,
    contract,
    coverage_hours,
    extension,
    membership,
    read_modality,
    shift,
    sla_target,
    subspecialist_exam,
    subspecialty,
    timezone,
)


def with_id(resource: dict[str, Any], resource_id: str) -> dict[str, Any]:
    return {**resource, "id": resource_id}


def one_reader(role: dict[str, Any], *others: dict[str, Any], practitioner: Any = None) -> Any:
    """The only Reader of a roster holding `role` (as "m") and `others` (as "r0", ...)."""
    practitioner = with_id(practitioner or radiologist(licence("TX")), "p")
    roles = [with_id(role, "m"), *(with_id(o, f"r{i}") for i, o in enumerate(others))]
    (reader,) = roster_from_fhir([practitioner], roles, []).readers
    return reader


# -- who reads ----------------------------------------------------------------------------


def test_each_membership_role_is_a_reader_of_its_group_and_privileges_are_not() -> None:
    roster = roster_from_fhir(
        [with_id(radiologist(licence("TX")), "p")],
        [
            with_id(membership(group="Organization/meridian"), "m1"),
            with_id(membership(group="Organization/nightwatch"), "m2"),
            with_id(facility_role("Practitioner/p", "Organization/mercy"), "f1"),
        ],
        [],
    )

    assert [(r.id, r.group, r.practitioner) for r in roster.readers] == [
        ("m1", "meridian", "p"),
        ("m2", "nightwatch", "p"),
    ]


def test_a_membership_of_a_practitioner_not_given_makes_no_reader() -> None:
    roster = roster_from_fhir([], [with_id(membership(), "m")], [])

    assert roster.readers == ()


def test_the_reader_holds_its_radiologists_licences_with_their_periods() -> None:
    practitioner = radiologist(
        licence("TX", start="2020-01-01", end="2027-06-30"),
        licence("CA", start="2021", end=None),
        licence("NY", status="inactive"),
    )

    reader = one_reader(membership(), practitioner=practitioner)

    assert reader.licences == (
        Licence("TX", Span(date(2020, 1, 1), date(2027, 6, 30))),
        Licence("CA", Span(date(2021, 1, 1), None)),
    )
    assert reader.name == "Ada Okafor"


def test_privileges_are_the_radiologists_active_facility_roles_with_their_periods() -> None:
    reader = one_reader(
        membership(),
        facility_role("Practitioner/p", "Organization/mercy", start="2020-01-01", end="2027-12"),
        facility_role("Practitioner/p", "Organization/harbor", active=False),
        facility_role("Practitioner/other", "Organization/lakeside"),
    )

    assert reader.privileges == (Privilege("mercy", Span(date(2020, 1, 1), date(2027, 12, 31))),)


def test_an_inactive_role_or_radiologist_makes_an_inactive_reader() -> None:
    assert not one_reader(membership(active=False)).active
    assert not one_reader(
        membership(), practitioner=radiologist(licence("TX"), active=False)
    ).active
    assert one_reader(membership(period={"start": "2024-01-01"})).span == Span(date(2024, 1, 1))


# -- when ---------------------------------------------------------------------------------


def test_shifts_are_wall_clock_hours_in_the_roles_own_zone() -> None:
    reader = one_reader(
        membership(
            zone="Australia/Sydney",
            shifts=[shift(["mon", "wed"], "07:00:00", "18:30:00")],
        )
    )

    assert reader.timezone == "Australia/Sydney"
    assert reader.shifts == (Shift(frozenset({0, 2}), time(7), time(18, 30)),)


def test_an_all_day_shift_runs_from_midnight_to_midnight() -> None:
    reader = one_reader(membership(shifts=[shift(["sat", "sun"], None, None, allDay=True)]))

    assert reader.shifts == (Shift(frozenset({5, 6}), time(0), time(0)),)


def test_an_overnight_shift_keeps_an_end_before_its_start() -> None:
    reader = one_reader(membership(shifts=[shift(["fri"], "20:00:00", "08:00:00")]))

    (overnight,) = reader.shifts
    assert (overnight.start, overnight.end) == (time(20), time(8))


def test_absences_are_utc_windows_and_dates_are_whole_local_days() -> None:
    role = membership(
        zone="Australia/Sydney",
        notAvailable=[
            {"description": "Leave", "during": {"start": "2026-01-05", "end": "2026-01-09"}},
            {
                "description": "Conference",
                "during": {"start": "2026-03-02T09:00:00+11:00", "end": "2026-03-02T17:00:00Z"},
            },
            {"description": "Sabbatical", "during": {"start": "2026-07-01T00:00:00Z"}},
            {"description": "No window: only words"},
        ],
    )

    leave, conference, sabbatical = one_reader(role).unavailable

    # Sydney is UTC+11 in January: the leave runs from 5 Jan 00:00 to 10 Jan 00:00 there.
    assert leave == (datetime(2026, 1, 4, 13, tzinfo=UTC), datetime(2026, 1, 9, 13, tzinfo=UTC))
    assert conference == (
        datetime(2026, 3, 1, 22, tzinfo=UTC),
        datetime(2026, 3, 2, 17, tzinfo=UTC),
    )
    assert sabbatical[0] == datetime(2026, 7, 1, tzinfo=UTC)
    assert sabbatical[1] - datetime(2026, 7, 1, tzinfo=UTC) > timedelta(days=365 * 1000)


def test_a_role_stored_in_an_unknown_zone_is_never_on_shift() -> None:
    reader = one_reader(membership(zone="Mars/Olympus_Mons"))

    assert reader.shifts == ()


# -- what -----------------------------------------------------------------------------------


def test_modalities_subspecialties_and_capacity_come_from_the_role() -> None:
    role = membership(
        extensions=[read_modality("CT"), read_modality("MR"), capacity(tasks=8, rvu=7.5)],
        specialty=[
            subspecialty("neuro"),
            {"coding": [{"system": "http://snomed.info/sct", "code": "394914008"}]},
        ],
    )

    reader = one_reader(role)

    assert reader.modalities == {"CT", "MR"}
    assert reader.subspecialties == {"neuro"}
    assert (reader.max_open_tasks, reader.max_rvu_per_hour) == (8, 7.5)


def test_without_capacity_the_reader_has_no_caps() -> None:
    reader = one_reader(membership(extensions=[capacity(tasks=5)]))
    assert (reader.max_open_tasks, reader.max_rvu_per_hour) == (5, None)
    reader = one_reader(membership(extensions=[]))
    assert (reader.max_open_tasks, reader.max_rvu_per_hour) == (None, None)


# -- contracts ----------------------------------------------------------------------------


def test_a_contract_names_its_parties_kind_and_period() -> None:
    found = contract_from_fhir(
        with_id(
            contract(
                "Organization/mercy",
                "Organization/nightwatch",
                kind=codes.OVERFLOW,
                period={"start": "2024-01-01", "end": "2026-12-31"},
            ),
            "c",
        )
    )

    assert found is not None
    assert (found.id, found.facility, found.group, found.kind) == (
        "c",
        "mercy",
        "nightwatch",
        "overflow",
    )
    assert found.span == Span(date(2024, 1, 1), date(2026, 12, 31))
    assert found.active


def test_coverage_is_the_listed_modalities_priorities_and_hours_in_the_contracts_zone() -> None:
    affiliation = contract(
        extensions=[
            timezone("America/New_York"),
            coverage_hours(["mon", "tue"], "19:00:00", "07:00:00"),
            coverage_hours(["sun"], "00:00:00", "00:00:00"),
            extension(codes.COVERED_MODALITY_EXTENSION, valueCode="CT"),
            extension(codes.COVERED_PRIORITY_EXTENSION, valueCode="stat"),
            extension(codes.COVERED_PRIORITY_EXTENSION, valueCode="urgent"),
        ]
    )

    found = contract_from_fhir(with_id(affiliation, "c"))

    assert found is not None
    assert found.timezone == "America/New_York"
    assert found.hours == (
        Shift(frozenset({0, 1}), time(19), time(7)),
        Shift(frozenset({6}), time(0), time(0)),
    )
    assert found.modalities == {"CT"}
    assert found.priorities == {"stat", "urgent"}


def test_a_contract_without_coverage_extensions_covers_everything_around_the_clock() -> None:
    found = contract_from_fhir(with_id(contract(extensions=[]), "c"))

    assert found is not None
    assert (found.modalities, found.priorities, found.hours) == (frozenset(), frozenset(), ())


def test_targets_are_turnarounds_per_priority_in_minutes_or_hours() -> None:
    affiliation = contract(
        extensions=[
            sla_target("stat", 60),
            sla_target("stroke", 20),
            sla_target("routine", 24, "h"),
        ]
    )

    found = contract_from_fhir(with_id(affiliation, "c"))

    assert found is not None
    assert dict(found.targets) == {
        "stat": timedelta(hours=1),
        "stroke": timedelta(minutes=20),
        "routine": timedelta(days=1),
    }


def test_subspecialist_exams_map_the_exam_code_to_the_subspecialty() -> None:
    affiliation = contract(
        extensions=[subspecialist_exam("70551", "neuro"), subspecialist_exam("77067", "breast")]
    )

    found = contract_from_fhir(with_id(affiliation, "c"))

    assert found is not None
    assert dict(found.subspecialist_exams) == {"70551": "neuro", "77067": "breast"}


def test_an_affiliation_without_a_kind_or_a_party_is_no_contract() -> None:
    facility_only = contract(participatingOrganization=None)
    roster = roster_from_fhir(
        [], [], [with_id(contract(kind=None), "a"), with_id(facility_only, "b")]
    )

    assert roster.contracts == ()


def test_an_absence_time_without_an_offset_is_read_in_the_roles_zone() -> None:
    role = membership(
        zone="Europe/Zurich",
        notAvailable=[{"description": "Clinic", "during": {"start": "2026-07-01T09:00:00"}}],
    )

    ((start, _),) = one_reader(role).unavailable

    assert start == datetime(2026, 7, 1, 7, tzinfo=UTC)  # CEST, UTC+2

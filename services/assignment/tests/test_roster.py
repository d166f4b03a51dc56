"""Who may read for whom, on a given day: a radiologist reads for a patient's state only
with an active licence there that day (Plan-Net qualification), and for a facility only
with privileges in force that day (PractitionerRole); the patient's state is the home
address's."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from services.assignment.roster import licensed_states, patient_state, privileged
from services.assignment.tests.builders import facility_role, licence, radiologist

DAY = date(2024, 6, 15)


def role(**period: Any) -> dict[str, Any]:
    return facility_role("Practitioner/p", "Organization/facility", **period)


# -- licences -----------------------------------------------------------------------------


def test_an_active_licence_in_force_counts_for_its_state() -> None:
    assert licensed_states(radiologist(licence("TX")), DAY) == {"TX"}


def test_every_state_licensed_that_day_counts() -> None:
    practitioner = radiologist(licence("TX"), licence("CA"), licence("NY", end="2023-12-31"))

    assert licensed_states(practitioner, DAY) == {"TX", "CA"}


@pytest.mark.parametrize(
    "qualification",
    [
        licence("TX", end="2024-06-14"),
        licence("TX", start="2024-06-16"),
        licence("TX", status="inactive"),
        licence("TX", status="suspended"),
        licence("TX", system="urn:iso:std:iso:3166:-2"),
        {"code": {"text": "Board certification"}, "period": {"start": "2020-01-01"}},
    ],
    ids=["expired", "not-yet-valid", "inactive", "suspended", "other-state-system", "no-plan-net"],
)
def test_a_licence_that_is_not_in_force_in_a_usps_state_does_not_count(
    qualification: dict[str, Any],
) -> None:
    assert licensed_states(radiologist(qualification), DAY) == frozenset()


def test_a_licence_counts_on_its_first_and_last_day() -> None:
    only_today = licence("TX", start="2024-06-15", end="2024-06-15")

    assert licensed_states(radiologist(only_today), DAY) == {"TX"}


def test_licence_periods_given_as_date_times_compare_by_day() -> None:
    ends_today = licence("TX", start="2024-01-01T00:00:00Z", end="2024-06-15T08:00:00-05:00")

    assert licensed_states(radiologist(ends_today), DAY) == {"TX"}


def test_a_licence_without_an_end_or_a_period_stays_in_force() -> None:
    open_ended = licence("TX", end=None)
    no_period = licence("CA", start=None, end=None)

    assert licensed_states(radiologist(open_ended, no_period), DAY) == {"TX", "CA"}


def test_an_inactive_practitioner_holds_no_licence_at_all() -> None:
    assert licensed_states(radiologist(licence("TX"), active=False), DAY) == frozenset()


def test_a_practitioner_without_active_flag_is_taken_as_active() -> None:
    assert licensed_states(radiologist(licence("TX"), active=None), DAY) == {"TX"}


def test_a_practitioner_without_qualifications_is_licensed_nowhere() -> None:
    assert licensed_states({"resourceType": "Practitioner"}, DAY) == frozenset()


# -- privileges ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "facility_role",
    [
        role(),
        role(active=None),
        role(start="2024-06-15"),
        role(end="2024-06-15"),
        role(start="2020-01-01", end="2099-12-31"),
    ],
    ids=["no-period", "active-unstated", "starts-today", "ends-today", "in-period"],
)
def test_privileges_in_force_that_day_count(facility_role: dict[str, Any]) -> None:
    assert privileged(facility_role, DAY)


@pytest.mark.parametrize(
    "facility_role",
    [role(active=False), role(end="2024-06-14"), role(start="2024-06-16")],
    ids=["inactive", "ended", "not-started"],
)
def test_privileges_that_are_inactive_or_out_of_period_do_not_count(
    facility_role: dict[str, Any],
) -> None:
    assert not privileged(facility_role, DAY)


# -- the patient's state ------------------------------------------------------------------


def test_the_home_address_gives_the_patients_state() -> None:
    patient = {
        "address": [
            {"use": "work", "state": "CA"},
            {"use": "home", "state": "TX"},
            {"use": "temp", "state": "NY"},
        ]
    }

    assert patient_state(patient) == "TX"


def test_without_a_home_state_the_first_address_with_a_state_counts() -> None:
    patient = {
        "address": [
            {"use": "home", "city": "Austin"},
            {"use": "work", "city": "Dallas"},
            {"use": "temp", "state": "NM"},
            {"use": "billing", "state": "OK"},
        ]
    }

    assert patient_state(patient) == "NM"


def test_a_patient_without_any_state_has_none() -> None:
    assert patient_state({"address": [{"city": "Austin"}]}) is None
    assert patient_state({}) is None


# -- partial dates (FHIR dateTime allows YYYY and YYYY-MM) --------------------------------


def test_periods_with_year_or_month_precision_cover_the_whole_year_or_month() -> None:
    assert privileged(role(start="2020", end="2024-06"), DAY)
    assert not privileged(role(start="2020", end="2024-05"), DAY)
    assert licensed_states(radiologist(licence("TX", start="2024", end="2024-06")), DAY) == {"TX"}

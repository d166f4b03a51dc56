"""Date search (FHIR R4 search 3.1.1.4.2, 3.1.1.5.2): a value stands for the whole range of
its precision, and prefixes compare ranges: eq/ne/lt/gt/le/ge/sa/eb.

birthDate (date), authoredOn (dateTime with offsets), occurrence[x] (dateTime or Period).
"""

from __future__ import annotations

import httpx

from services.intake.tests.builders import order, ordering_setup, patients
from tests.support.rest import assert_outcome, create, found, ids_of


async def _births(client: httpx.AsyncClient) -> tuple[dict, dict, dict, dict]:
    """Born 1970-03-02; in March 1970 (day unknown); 1970-04-15; date not recorded."""
    return tuple(  # type: ignore[return-value]
        await patients(
            client,
            {"birthDate": "1970-03-02"},
            {"birthDate": "1970-03"},
            {"birthDate": "1970-04-15"},
            {},
        )
    )


async def test_a_date_matches_every_value_within_its_precision(client: httpx.AsyncClient) -> None:
    day, month, april, _ = await _births(client)

    assert await found(client, "Patient", {"birthdate": "1970-03"}) == ids_of(day, month)
    assert await found(client, "Patient", {"birthdate": "1970"}) == ids_of(day, month, april)
    # "1970-03" (all of March) is not within the single day 1970-03-02
    assert await found(client, "Patient", {"birthdate": "1970-03-02"}) == ids_of(day)
    assert await found(client, "Patient", {"birthdate": "eq1970-03-02"}) == ids_of(day)


async def test_prefixes_compare_ranges_at_their_precision(client: httpx.AsyncClient) -> None:
    day, month, april, _ = await _births(client)
    expected = {
        "ge1970-03-02": ids_of(day, month, april),
        "gt1970-03-02": ids_of(month, april),  # March extends after the 2nd; the 2nd does not
        "le1970-03-02": ids_of(day, month),
        "lt1970-03-02": ids_of(month),  # March starts before the 2nd; the 2nd does not
        "ne1970-03-02": ids_of(month, april),
        "sa1970-03-02": ids_of(april),  # March overlaps the 2nd, so does not start after it
        "eb1970-04-01": ids_of(day, month),
        "eb1970-03-02": set(),
        "sa1970-02": ids_of(day, month, april),
        "ge1970-04-16": set(),
        "lt1970": set(),
    }

    actual = {value: await found(client, "Patient", {"birthdate": value}) for value in expected}

    assert actual == expected


async def test_date_time_with_offset_compares_as_the_same_instant(
    client: httpx.AsyncClient,
) -> None:
    subject, facility = await ordering_setup(client)
    # 04:30 UTC on 2 March; 23:00 UTC on 1 March
    evening_in_new_york = await create(
        client, order(subject, facility, "ACC-NY", authoredOn="2026-03-01T23:30:00-05:00")
    )
    night_in_cairo = await create(
        client, order(subject, facility, "ACC-CAIRO", authoredOn="2026-03-02T01:00:00+02:00")
    )
    expected = {
        "2026-03-01T23:30:00-05:00": ids_of(evening_in_new_york),
        "2026-03-02T04:30:00Z": ids_of(evening_in_new_york),
        "2026-03-02T06:30:00+02:00": ids_of(evening_in_new_york),
        "2026-03-02": ids_of(evening_in_new_york),  # a date without zone is a UTC day here
        "2026-03-01": ids_of(night_in_cairo),
        "gt2026-03-02T04:00:00Z": ids_of(evening_in_new_york),
        "lt2026-03-02T00:00:00Z": ids_of(night_in_cairo),
        "ge2026-03-02T00:00:00+02:00": ids_of(evening_in_new_york, night_in_cairo),
        "le2026-03-01T23:00:00Z": ids_of(night_in_cairo),
        "lt2026-03-01T23:00:00Z": set(),
    }

    actual = {
        value: await found(client, "ServiceRequest", {"authored": value}) for value in expected
    }

    assert actual == expected


async def test_period_matches_by_overlap_and_containment(client: httpx.AsyncClient) -> None:
    subject, facility = await ordering_setup(client)
    morning_slot = await create(
        client,
        order(
            subject,
            facility,
            "ACC-MORNING",
            occurrencePeriod={"start": "2026-04-01T08:00:00Z", "end": "2026-04-01T12:00:00Z"},
        ),
    )
    next_day = await create(
        client, order(subject, facility, "ACC-NEXT-DAY", occurrenceDateTime="2026-04-02T09:00:00Z")
    )
    open_ended = await create(
        client,
        order(subject, facility, "ACC-OPEN", occurrencePeriod={"start": "2026-04-03T00:00:00Z"}),
    )
    expected = {
        "2026-04-01": ids_of(morning_slot),
        "2026-04": ids_of(morning_slot, next_day),  # open_ended runs past April
        "eq2026-04-01T10:00:00Z": set(),  # a 4-hour period is not within one second
        "ge2026-04-01T10:00:00Z": ids_of(morning_slot, next_day, open_ended),
        "lt2026-04-01T09:00:00Z": ids_of(morning_slot),
        "sa2026-04-01T12:30:00Z": ids_of(next_day, open_ended),
        "eb2026-04-02": ids_of(morning_slot),
        "ge2030-01-01": ids_of(open_ended),
        "ne2026-04-01": ids_of(next_day, open_ended),
    }

    actual = {
        value: await found(client, "ServiceRequest", {"occurrence": value}) for value in expected
    }

    assert actual == expected


INVALID_DATES = [
    ("birthdate", "1970-13-01"),
    ("birthdate", "1970-02-30"),
    ("birthdate", "yesterday"),
    ("birthdate", "ge"),
    ("birthdate", "xx1970-01-01"),
    ("_lastUpdated", "gt2026-01-01T25:00:00Z"),
]


async def test_invalid_date_is_refused_naming_the_parameter(client: httpx.AsyncClient) -> None:
    for name, value in INVALID_DATES:
        response = await client.get("/Patient", params={name: value})

        assert_outcome(response, 400, mentions=name)

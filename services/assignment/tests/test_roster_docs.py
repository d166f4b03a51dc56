"""The examples of docs/assignment.md ("Roster and contracts in FHIR") are what they say:
the API accepts each of them, and they read into the Reader and Contracts the text
describes."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx

from services.assignment.engine.model import Contract, Licence, Privilege, Reader, Shift, Span
from services.assignment.roster import roster_from_fhir
from tests.support.rest import create, entries, search

DOC = Path(__file__).resolve().parents[3] / "docs" / "assignment.md"
SECTION = "## Roster and contracts in FHIR"


def documented_examples() -> list[dict[str, Any]]:
    """The JSON examples of the section, in order."""
    text = DOC.read_text(encoding="utf-8").split(SECTION, 1)[1].split("\n## ", 1)[0]
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, re.S)]


def _split(examples: list[dict[str, Any]]) -> tuple[list[Any], list[Any], list[Any]]:
    by_type: dict[str, list[dict[str, Any]]] = {}
    for example in examples:
        by_type.setdefault(example["resourceType"], []).append(example)
    return (
        by_type["Practitioner"],
        by_type["PractitionerRole"],
        by_type["OrganizationAffiliation"],
    )


CHICAGO_MIDNIGHT = timedelta(hours=6)  # CST, December

EXPECTED_READER = Reader(
    id="chen-meridian",
    practitioner="chen",
    name="Wei Chen",
    group="meridian",
    timezone="America/Chicago",
    licences=(Licence("TX", Span(date(2019, 7, 1), date(2027, 6, 30))),),
    privileges=(Privilege("mercy", Span(date(2020, 1, 1), date(2027, 12, 31))),),
    modalities=frozenset({"CT", "MR", "DX", "US"}),
    subspecialties=frozenset({"neuro", "body"}),
    shifts=(
        Shift(frozenset({0, 1, 2, 3, 4}), time(15), time(1)),
        Shift(frozenset({6}), time(0), time(0)),
    ),
    unavailable=(
        (
            datetime(2026, 12, 21, tzinfo=UTC) + CHICAGO_MIDNIGHT,
            datetime(2026, 12, 28, tzinfo=UTC) + CHICAGO_MIDNIGHT,
        ),
    ),
    max_open_tasks=10,
    max_rvu_per_hour=8.5,
    span=Span(date(2019, 7, 1)),
)
EXPECTED_PRIMARY = Contract(
    id="mercy-primary",
    facility="mercy",
    group="meridian",
    kind="primary",
    span=Span(date(2024, 1, 1)),
    targets={
        "stat": timedelta(minutes=30),
        "stroke": timedelta(minutes=20),
        "routine": timedelta(hours=24),
    },
    subspecialist_exams={"70551": "neuro"},
)
EXPECTED_OVERFLOW = Contract(
    id="mercy-overflow",
    facility="mercy",
    group="nightwatch",
    kind="overflow",
    span=Span(date(2024, 1, 1), date(2026, 12, 31)),
    modalities=frozenset({"CT", "DX", "US"}),
    priorities=frozenset({"stat", "asap", "urgent"}),
    hours=(
        Shift(frozenset({0, 1, 2, 3, 4}), time(19), time(7)),
        Shift(frozenset({5, 6}), time(0), time(0)),
    ),
    timezone="America/Chicago",
    targets={"stat": timedelta(hours=1)},
)


def test_the_documented_examples_read_into_the_reader_and_contracts_described() -> None:
    roster = roster_from_fhir(*_split(documented_examples()))

    assert roster.readers == (EXPECTED_READER,)
    assert roster.contracts == (EXPECTED_PRIMARY, EXPECTED_OVERFLOW)


async def test_the_api_accepts_every_documented_example(assignment: httpx.AsyncClient) -> None:
    practitioners, roles, affiliations = _split(documented_examples())
    (practitioner,) = practitioners
    stored = await create(assignment, {k: v for k, v in practitioner.items() if k != "id"})
    # The server assigns ids: the examples' references follow the stored Practitioner.
    rename = {'"Practitioner/chen"': f'"Practitioner/{stored["id"]}"'}
    for example in [*roles, *affiliations]:
        text = json.dumps({k: v for k, v in example.items() if k != "id"})
        for old, new in rename.items():
            text = text.replace(old, new)
        await create(assignment, json.loads(text))

    read_back = {
        kind: [e["resource"] for e in entries(await search(assignment, kind, {}))]
        for kind in ("Practitioner", "PractitionerRole", "OrganizationAffiliation")
    }
    roster = roster_from_fhir(*read_back.values())

    (reader,) = roster.readers
    assert reader.practitioner == stored["id"]
    assert (reader.shifts, reader.licences, reader.privileges) == (
        EXPECTED_READER.shifts,
        EXPECTED_READER.licences,
        EXPECTED_READER.privileges,
    )
    assert sorted(c.kind for c in roster.contracts) == ["overflow", "primary"]

"""What an AuditEvent says a refused request asked for, and whom it was about: told from
the request alone (method, path, parameters, submitted resource)."""

from __future__ import annotations

import pytest

from shared.audit.interactions import Asked, asked
from shared.audit.trail import patients_in_query, patients_of


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "Patient/1", Asked("read", "Patient", "1")),
        ("GET", "Patient/1/_history/2", Asked("vread", "Patient", "1", "2")),
        ("GET", "Patient/1/_history", Asked("history-instance", "Patient", "1")),
        ("GET", "Patient/_history", Asked("history-type", "Patient")),
        ("GET", "Patient", Asked("search-type", "Patient")),
        ("POST", "Patient/_search", Asked("search-type", "Patient")),
        ("POST", "Patient", Asked("create", "Patient")),
        ("PUT", "Patient", Asked("update", "Patient")),
        ("PUT", "Patient/1", Asked("update", "Patient", "1")),
        ("DELETE", "Patient/1", Asked("delete", "Patient", "1")),
        ("PATCH", "Patient/1", Asked("patch", "Patient", "1")),
        ("GET", "$turnaround", Asked("operation")),
        ("GET", "Subscription/7/$status", Asked("operation", "Subscription", "7")),
        ("POST", "", Asked("batch")),
    ],
)
def test_the_interaction_asked_for(method: str, path: str, expected: Asked) -> None:
    assert asked(method, path) == expected


def test_a_parsed_bundle_is_recorded_as_its_type() -> None:
    assert asked("POST", "", "transaction").interaction == "transaction"


def test_the_object_asked_for_is_the_instance_or_version() -> None:
    assert asked("GET", "Task/9/_history/3").object_path == "Task/9/_history/3"
    assert asked("GET", "Task/9").object_path == "Task/9"
    assert asked("GET", "Task").object_path is None


@pytest.mark.parametrize(
    ("resource", "patients"),
    [
        ({"resourceType": "Patient", "id": "p1"}, {"Patient/p1"}),
        ({"resourceType": "Patient"}, set()),
        (
            {"resourceType": "ServiceRequest", "subject": {"reference": "Patient/p1"}},
            {"Patient/p1"},
        ),
        ({"resourceType": "Task", "for": {"reference": "Patient/p2"}}, {"Patient/p2"}),
        ({"resourceType": "DetectedIssue", "patient": {"reference": "Patient/p3"}}, {"Patient/p3"}),
        (
            {
                "resourceType": "ImagingStudy",
                "subject": {"reference": "https://x.org/fhir/Patient/p4"},
            },
            {"Patient/p4"},
        ),
        ({"resourceType": "MeasureReport", "subject": {"reference": "Group/g1"}}, set()),
        ({"resourceType": "Task", "focus": {"reference": "ServiceRequest/s1"}}, set()),
    ],
)
def test_the_patients_a_resource_is_about(resource: dict, patients: set[str]) -> None:
    assert patients_of(resource) == patients


def test_the_patients_a_search_names() -> None:
    items = [
        ("patient", "p1,Patient/p2"),
        ("subject", "Patient/p3"),
        ("subject:Patient", "Group/g1"),
        ("patient.identifier", "mrn|1"),
        ("status", "active"),
    ]
    assert patients_in_query("ServiceRequest", items) == {"Patient/p1", "Patient/p2", "Patient/p3"}
    assert patients_in_query("Patient", [("_id", "p9")]) == {"Patient/p9"}
    assert patients_in_query("Task", [("_id", "t1")]) == set()

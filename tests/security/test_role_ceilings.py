"""Whatever scopes a client holds, its role caps what it may do (shared/roles.py)."""

from __future__ import annotations

import pytest

from shared.auth import Principal
from shared.fhir.outcomes import FhirError

EVERY_SCOPE = frozenset({"system/*.cruds"})


def _as(role: str) -> Principal:
    return Principal("client", EVERY_SCOPE, role=role)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("role", "resource_type", "interaction"),
    [
        ("facility", "Task", "u"),  # a facility cannot re-assign a read
        ("facility", "Practitioner", "c"),
        ("facility", "AuditEvent", "s"),
        ("vendor", "ServiceRequest", "u"),
        ("vendor", "Patient", "c"),
        ("radiologist", "ImagingStudy", "d"),
        ("radiologist", "PractitionerRole", "u"),  # nobody edits their own privileges
        ("admin", "AuditEvent", "r"),
        ("admin", "Patient", "u"),
        ("auditor", "Patient", "r"),
    ],
)
def test_a_role_never_exceeds_its_ceiling_whatever_its_scopes(
    role: str, resource_type: str, interaction: str
) -> None:
    with pytest.raises(FhirError) as refused:
        _as(role).require(resource_type, interaction)  # type: ignore[arg-type]
    assert refused.value.status == 403


@pytest.mark.parametrize(
    ("role", "resource_type", "interaction"),
    [
        ("facility", "ServiceRequest", "c"),
        ("facility", "Task", "s"),
        ("vendor", "Task", "u"),
        ("radiologist", "DiagnosticReport", "c"),
        ("admin", "PractitionerRole", "c"),
        ("auditor", "AuditEvent", "s"),
        ("system", "AuditEvent", "r"),
    ],
)
def test_a_role_may_do_what_its_work_needs(role: str, resource_type: str, interaction: str) -> None:
    _as(role).require(resource_type, interaction)  # type: ignore[arg-type]


def test_the_ceiling_does_not_widen_narrow_scopes() -> None:
    reader = Principal("client", frozenset({"system/ServiceRequest.rs"}), role="facility")
    with pytest.raises(FhirError):
        reader.require("ServiceRequest", "c")

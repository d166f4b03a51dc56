"""SMART scopes: a request is narrowed to a registration, never beyond it."""

from __future__ import annotations

import pytest

from shared.smart.scopes import Scope, narrow

REGISTERED = ["system/Task.rs", "system/Organization.cruds", "user/Patient.r"]


@pytest.mark.parametrize(
    ("requested", "granted"),
    [
        (["system/*.rs"], {"system/Task.rs", "system/Organization.rs"}),
        (["system/*.cruds"], {"system/Task.rs", "system/Organization.cruds"}),
        (["system/Task.cruds"], {"system/Task.rs"}),
        (["system/Task.c"], set()),
        (["system/Practitioner.rs"], set()),
        (["user/*.rs"], {"user/Patient.r"}),
        (["patient/Patient.r"], set()),
        (["system/Organization.read", "system/Organization.write"], {"system/Organization.cruds"}),
        (["system/Organization.rs", "system/Organization.cruds"], {"system/Organization.cruds"}),
        (["system/Task.sr"], {"system/Task.rs"}),
        (["openid", "fhirUser", "launch/patient", "system/Task.rs?category=x"], set()),
    ],
)
def test_a_request_is_narrowed_to_the_registration(requested: list[str], granted: set[str]) -> None:
    assert narrow(requested, REGISTERED) == granted


def test_a_wildcard_registration_grants_the_types_requested() -> None:
    assert narrow(["system/Task.rs", "system/*.c"], ["system/*.cruds"]) == {
        "system/Task.rs",
        "system/*.c",
    }


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("system/Task.cruds", Scope("system", "Task", "cruds")),
        ("user/*.read", Scope("user", "*", "rs")),
        ("patient/Observation.write", Scope("patient", "Observation", "cud")),
        ("system/Task.*", Scope("system", "Task", "cruds")),
        ("system/Task.x", None),
        ("system/task.rs", None),
        ("openid", None),
    ],
)
def test_scopes_are_parsed_in_their_v2_and_v1_forms(text: str, parsed: Scope | None) -> None:
    assert Scope.parse(text) == parsed

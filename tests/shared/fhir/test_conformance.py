"""Declared definitions become valid FHIR R4 conformance resources, and the catalogue
reads and searches them as a FHIR server would."""

from __future__ import annotations

from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from shared.fhir.canonical import CANONICAL_BASE
from shared.fhir.conformance import (
    Binding,
    Catalogue,
    CodeSystemDefinition,
    Concept,
    ExtensionDefinition,
    NamingSystemDefinition,
    OperationDefinition,
    OperationParameter,
    SubExtension,
    Value,
    conformance_resource,
)
from shared.fhir.outcomes import FhirError

SD = f"{CANONICAL_BASE}/StructureDefinition"
DATE = "2026-11-29T00:00:00Z"

FACILITY = ExtensionDefinition(
    url=f"{SD}/test-facility",
    title="Test facility",
    description="The facility, for a test.",
    contexts=("ServiceRequest", "Task"),
    value=Value(("Reference",), targets=("Organization",)),
)
CAPACITY = ExtensionDefinition(
    url=f"{SD}/test-capacity",
    title="Test capacity",
    description="Caps, for a test.",
    contexts=("PractitionerRole",),
    parts=(
        SubExtension("maxOpenTasks", "Most open Tasks", Value(("integer",)), min=1),
        SubExtension(
            "days",
            "Days",
            Value(
                ("code",), binding=Binding("required", "http://hl7.org/fhir/ValueSet/days-of-week")
            ),
            max="*",
        ),
    ),
    max="*",
)
COLOURS = CodeSystemDefinition(
    url=f"{CANONICAL_BASE}/CodeSystem/test-colour",
    title="Test colour",
    description="Colours, for a test.",
    concepts=(Concept("red", "Red", "The colour red."), Concept("blue", "Blue", "Blue.")),
)
TICKETS = NamingSystemDefinition(
    value=f"{CANONICAL_BASE}/sid/test-ticket",
    title="Test ticket",
    description="Tickets, for a test.",
    usage="Task.identifier",
)
ECHO = OperationDefinition(
    url=f"{CANONICAL_BASE}/OperationDefinition/test-echo",
    title="Echo",
    description="Echoes, for a test.",
    code="echo",
    system=True,
    parameters=(
        OperationParameter("text", "in", "What to echo", type="string", min=1),
        OperationParameter(
            "echo",
            "out",
            "One per echo",
            max="*",
            parts=(OperationParameter("text", "out", "The text", type="string", min=1),),
        ),
    ),
)
CATALOGUE = Catalogue((FACILITY, CAPACITY, COLOURS, TICKETS, ECHO), version="1.2.0", date=DATE)


def valid(resource: dict[str, Any]) -> dict[str, Any]:
    """`resource`, after checking the FHIR models accept it as it is."""
    model = get_fhir_model_class(resource["resourceType"])
    parsed = model.model_validate(resource)
    assert parsed.model_dump(mode="json", exclude_none=True)["id"] == resource["id"]
    return resource


def elements(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["id"]: e for e in definition["differential"]["element"]}


def test_a_simple_extension_is_a_structure_definition_fixing_its_url_and_value_type() -> None:
    definition = valid(conformance_resource(FACILITY, version="1.2.0", date=DATE))
    assert definition["id"] == "test-facility"
    assert definition["url"] == FACILITY.url
    assert definition["name"] == "TestFacility"
    assert (definition["kind"], definition["type"], definition["derivation"]) == (
        "complex-type",
        "Extension",
        "constraint",
    )
    assert definition["baseDefinition"] == "http://hl7.org/fhir/StructureDefinition/Extension"
    assert definition["context"] == [
        {"type": "element", "expression": "ServiceRequest"},
        {"type": "element", "expression": "Task"},
    ]
    by_id = elements(definition)
    assert by_id["Extension.url"]["fixedUri"] == FACILITY.url
    assert by_id["Extension.value[x]"]["type"] == [
        {
            "code": "Reference",
            "targetProfile": ["http://hl7.org/fhir/StructureDefinition/Organization"],
        }
    ]
    assert by_id["Extension.value[x]"]["min"] == 1
    assert by_id["Extension.extension"]["max"] == "0"
    assert (by_id["Extension"]["min"], by_id["Extension"]["max"]) == (0, "1")


def test_a_complex_extension_slices_its_parts_by_url_and_has_no_value() -> None:
    by_id = elements(valid(conformance_resource(CAPACITY, version="1", date=DATE)))
    slicing = by_id["Extension.extension"]
    assert slicing["slicing"]["discriminator"] == [{"type": "value", "path": "url"}]
    assert slicing["min"] == 1  # one part is required
    tasks = "Extension.extension:maxOpenTasks"
    assert (by_id[tasks]["sliceName"], by_id[tasks]["min"], by_id[tasks]["max"]) == (
        "maxOpenTasks",
        1,
        "1",
    )
    assert by_id[f"{tasks}.url"]["fixedUri"] == "maxOpenTasks"
    assert by_id[f"{tasks}.value[x]"]["type"] == [{"code": "integer"}]
    days = by_id["Extension.extension:days.value[x]"]
    assert days["binding"]["valueSet"] == "http://hl7.org/fhir/ValueSet/days-of-week"
    assert by_id["Extension.extension:days"]["max"] == "*"
    assert by_id["Extension.value[x]"]["max"] == "0"
    assert by_id["Extension"]["max"] == "*"


def test_a_code_system_lists_every_code_with_its_meaning() -> None:
    system = valid(conformance_resource(COLOURS, version="1.2.0", date=DATE))
    assert (system["status"], system["content"], system["count"]) == ("active", "complete", 2)
    assert system["version"] == "1.2.0"
    assert system["concept"][0] == {
        "code": "red",
        "display": "Red",
        "definition": "The colour red.",
    }


def test_an_identifier_system_is_a_naming_system_known_by_its_uri() -> None:
    system = valid(conformance_resource(TICKETS, version="1.2.0", date=DATE))
    assert system["id"] == "test-ticket"
    assert system["kind"] == "identifier"
    assert system["uniqueId"] == [{"type": "uri", "value": TICKETS.value, "preferred": True}]
    assert system["usage"] == "Task.identifier"


def test_an_operation_types_each_parameter_or_gives_its_parts() -> None:
    operation = valid(conformance_resource(ECHO, version="1", date=DATE))
    assert (operation["code"], operation["system"], operation["type"], operation["instance"]) == (
        "echo",
        True,
        False,
        False,
    )
    text, echo = operation["parameter"]
    assert (text["use"], text["type"], text["min"]) == ("in", "string", 1)
    assert "type" not in echo
    assert echo["part"][0]["type"] == "string"


@pytest.mark.parametrize(
    "declare",
    [
        lambda: ExtensionDefinition(
            url="http://elsewhere.example/StructureDefinition/x",
            title="x",
            description="x",
            contexts=("Task",),
            value=Value(("string",)),
        ),
        lambda: ExtensionDefinition(url=f"{SD}/x", title="x", description="x", contexts=("Task",)),
        lambda: ExtensionDefinition(
            url=f"{SD}/x", title="x", description="x", contexts=(), value=Value(("string",))
        ),
        lambda: ExtensionDefinition(
            url=f"{CANONICAL_BASE}/CodeSystem/x",
            title="x",
            description="x",
            contexts=("Task",),
            value=Value(("string",)),
        ),
        lambda: CodeSystemDefinition(
            url=f"{CANONICAL_BASE}/CodeSystem/x",
            title="x",
            description="x",
            concepts=(Concept("a", "A", "a"), Concept("a", "A", "a")),
        ),
        lambda: SubExtension("a/b", "x", Value(("string",))),
        lambda: Value(("string",), targets=("Patient",)),
        lambda: OperationParameter("x", "in", "x"),
    ],
    ids=[
        "elsewhere",
        "no value",
        "no context",
        "wrong kind",
        "repeated code",
        "sub url",
        "targets",
        "untyped",
    ],
)
def test_a_half_made_or_misplaced_declaration_is_refused(declare: Any) -> None:
    with pytest.raises(ValueError):
        declare()


def test_one_url_declared_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        Catalogue((COLOURS, COLOURS), version="1", date=DATE)


# -- the catalogue ------------------------------------------------------------------------


def ids(found: tuple[list[dict[str, Any]], Any]) -> list[str]:
    return [r["id"] for r in found[0]]


def test_a_definition_is_read_by_type_and_id() -> None:
    assert CATALOGUE.read("CodeSystem", "test-colour")["url"] == COLOURS.url
    with pytest.raises(FhirError) as unknown:
        CATALOGUE.read("StructureDefinition", "test-colour")
    assert unknown.value.status == 404


def test_a_search_by_url_finds_that_definition_in_any_version_or_the_one_named() -> None:
    search = CATALOGUE.search
    assert ids(search("StructureDefinition", [("url", FACILITY.url)])) == ["test-facility"]
    assert ids(search("StructureDefinition", [("url", f"{FACILITY.url}|1.2.0")])) == [
        "test-facility"
    ]
    assert ids(search("StructureDefinition", [("url", f"{FACILITY.url}|0.9")])) == []
    assert ids(search("StructureDefinition", [("url", COLOURS.url)])) == []


def test_commas_or_values_and_repeated_parameters_and_them() -> None:
    both = [("_id", "test-facility,test-capacity")]
    assert ids(CATALOGUE.search("StructureDefinition", both)) == ["test-capacity", "test-facility"]
    narrowed = [*both, ("url", CAPACITY.url)]
    assert ids(CATALOGUE.search("StructureDefinition", narrowed)) == ["test-capacity"]
    assert ids(CATALOGUE.search("StructureDefinition", [])) == ["test-capacity", "test-facility"]


def test_a_naming_system_is_found_by_its_identifier_system() -> None:
    search = CATALOGUE.search
    assert ids(search("NamingSystem", [("value", TICKETS.value.upper()[:30])])) == ["test-ticket"]
    assert ids(search("NamingSystem", [("value:exact", TICKETS.value)])) == ["test-ticket"]
    assert ids(search("NamingSystem", [("value:exact", TICKETS.value[:-1])])) == []


def test_an_unknown_parameter_or_modifier_is_refused_unless_lenient() -> None:
    for key in ("name", "url:below", "_count"):
        with pytest.raises(FhirError) as refused:
            CATALOGUE.search("CodeSystem", [(key, "x")])
        assert refused.value.status == 400
    found, used = CATALOGUE.search(
        "CodeSystem", [("name", "x"), ("_id", "test-colour"), ("_format", "json")], lenient=True
    )
    assert [r["id"] for r in found] == ["test-colour"]
    assert used == [("_id", "test-colour")]  # the self link names what was applied

"""Every URL the platform defines is declared, served and documented, and each declaration
says what the code does.

The source scan is what keeps this true: a new extension, code system, identifier system
or operation written under the canonical base, in services/ or shared/, fails here until
it is declared (a `conformance.py`) and listed in docs/fhir.md.
"""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fhir.resources.R4B import get_fhir_model_class

from services.assignment.conformance import (
    ASSIGNMENT_CONSTRAINT,
    ASSIGNMENT_STATUS,
    SUBSPECIALTY,
)
from services.assignment.engine.exams import CATALOGUE as EXAMS
from services.assignment.engine.model import Constraint
from services.gateway.definitions import PLATFORM_DEFINITIONS
from services.sla.conformance import TURNAROUND
from services.sla.facts import OrderFacts
from services.sla.timeline import MILESTONES
from services.sla.turnaround import turnaround_parameters
from shared.audit.conformance import PRINCIPAL_ROLE
from shared.fhir.canonical import CANONICAL_BASE
from shared.fhir.conformance import Catalogue, Definition, conformance_resource
from shared.roles import CEILINGS

ROOT = Path(__file__).resolve().parent.parent
# The declarations' machinery checks URLs against the base; it defines none.
MACHINERY = Path("shared/fhir/conformance")
DOCS = ROOT / "docs" / "fhir.md"
DOCS_SECTION = "## The platform's own definitions"
CATALOGUE = Catalogue(PLATFORM_DEFINITIONS, version="0.1.0", date="2026-11-29T00:00:00Z")
# URL kinds under the canonical base, and where their names are declared.
DECLARED_KINDS = (
    "StructureDefinition",
    "CodeSystem",
    "NamingSystem",
    "OperationDefinition",
    "Measure",
    "sid",
)
# Topics are declared in the services' registries and listed in the CapabilityStatement's
# Subscription entry (R4 has no SubscriptionTopic resource to serve).
TOPIC_KIND = "SubscriptionTopic"


def _sources() -> list[tuple[Path, ast.Module]]:
    """The parsed Python source of services/ and shared/, without tests."""
    modules = []
    for path in sorted([*ROOT.glob("services/**/*.py"), *ROOT.glob("shared/**/*.py")]):
        relative = path.relative_to(ROOT)
        if "tests" in relative.parts or relative.is_relative_to(MACHINERY):
            continue
        modules.append((relative, ast.parse(path.read_text(), str(path))))
    return modules


def _suffix(node: ast.AST, bases: dict[str, str]) -> str | None:
    """The part after the canonical base of the URL `node` writes, when it writes one:
    `bases` maps names (CANONICAL_BASE, and constants built on it such as TOPIC_BASE) to
    their part after the base; a part computed at run time is kept as `{...}`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        if node.value.startswith(CANONICAL_BASE):
            return node.value.removeprefix(CANONICAL_BASE)
        return None
    if not isinstance(node, ast.JoinedStr) or not node.values:
        return None
    first, *rest = node.values
    head = first.value if isinstance(first, ast.FormattedValue) else None
    name = head.id if isinstance(head, ast.Name) else getattr(head, "attr", None)
    if name not in bases:
        return None
    return bases[name] + "".join(v.value if isinstance(v, ast.Constant) else "{...}" for v in rest)


def _bases(modules: list[tuple[Path, ast.Module]]) -> dict[str, str]:
    """CANONICAL_BASE and every module constant built on it, by name."""
    bases = {"CANONICAL_BASE": ""}
    for _ in range(3):  # a constant may be built on another
        for _, module in modules:
            for statement in module.body:
                if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
                    target = statement.targets[0]
                    suffix = _suffix(statement.value, bases)
                    if isinstance(target, ast.Name) and suffix is not None:
                        bases.setdefault(target.id, suffix)
    return bases


def canonical_suffixes() -> dict[str, list[str]]:
    """Each URL under the canonical base written in the Python source of services/ and
    shared/ (not tests), as the path after the base -> where it is written."""
    modules = _sources()
    bases = _bases(modules)
    found: dict[str, list[str]] = {}
    for relative, module in modules:
        for node in ast.walk(module):
            suffix = _suffix(node, bases)
            if suffix:
                where = f"{relative}:{getattr(node, 'lineno', '?')}"
                found.setdefault(suffix, []).append(where)
    return found


def _undeclared(suffix: str) -> str | None:
    """Why the URL `{CANONICAL_BASE}{suffix}` fails, or None when it is declared."""
    kind, _, name = suffix.strip("/").partition("/")
    if kind not in (*DECLARED_KINDS, TOPIC_KIND):
        return "not a kind of definition the platform serves"
    if not name or kind == TOPIC_KIND:
        return None  # a base that URLs are built on; topics are checked by their registries
    if "{...}" in name:
        return "write the URL whole (the suite checks each is declared)"
    if f"{CANONICAL_BASE}{suffix}" not in CATALOGUE.urls:
        return "declare it in a conformance.py"
    return None


def documented_section() -> str:
    text = DOCS.read_text()
    assert DOCS_SECTION in text, f"docs/fhir.md has no section {DOCS_SECTION!r}"
    section = text.split(DOCS_SECTION, 1)[1]
    return section.split("\n## ", 1)[0]


def test_every_url_the_source_writes_under_the_canonical_base_is_declared() -> None:
    undeclared = [
        f"{suffix} ({', '.join(places)}): {why}"
        for suffix, places in canonical_suffixes().items()
        if (why := _undeclared(suffix))
    ]
    assert not undeclared, "\n".join(undeclared)


def test_the_scan_sees_the_urls_the_services_write() -> None:
    seen = set(canonical_suffixes())
    for suffix in (
        "/StructureDefinition/ordering-facility",
        "/StructureDefinition/subscription-signing-secret",
        "/CodeSystem/assignment-status",
        "/CodeSystem/sla-event",
        "/NamingSystem/read-task",
        "/sid/client-id",
        "/OperationDefinition/turnaround",
    ):
        assert suffix in seen


def test_every_definition_is_listed_in_the_docs_by_its_url() -> None:
    section = documented_section()
    missing = sorted(url for url in CATALOGUE.urls if f"`{url}`" not in section)
    assert not missing, f"docs/fhir.md, {DOCS_SECTION!r}, does not list: {missing}"


def test_the_docs_list_no_definition_that_is_not_declared() -> None:
    listed = {
        part.split("`", 1)[0] for part in documented_section().split(f"`{CANONICAL_BASE}")[1:]
    }
    served = {url.removeprefix(CANONICAL_BASE) for url in CATALOGUE.urls}
    extra = sorted(
        p for p in listed if p and p not in served and not p.startswith(f"/{TOPIC_KIND}/")
    )
    assert not extra, f"docs/fhir.md lists definitions nobody declares: {extra}"


@pytest.mark.parametrize(
    "definition", PLATFORM_DEFINITIONS, ids=lambda d: d.url.rsplit("/", 2)[1] + "/" + d.id
)
def test_every_declaration_is_a_valid_fhir_r4_resource(definition: Definition) -> None:
    resource = conformance_resource(definition, version="0.1.0", date="2026-11-29T00:00:00Z")
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    assert resource["id"] == definition.id
    assert resource["description"]


# -- the codes the code does use ----------------------------------------------------------


def test_the_principal_roles_are_the_roles_that_have_a_ceiling() -> None:
    assert set(PRINCIPAL_ROLE.codes) == set(CEILINGS)


def test_the_assignment_constraints_are_the_engines_in_the_order_checked() -> None:
    assert ASSIGNMENT_CONSTRAINT.codes == tuple(c.value for c in Constraint)


def test_the_exam_catalogue_asks_only_for_declared_subspecialties() -> None:
    asked = {kind.subspecialty for kind in EXAMS.values() if kind.subspecialty}
    assert asked <= set(SUBSPECIALTY.codes)


def test_every_business_status_a_task_is_given_is_declared() -> None:
    given = set()
    for path in ROOT.glob("services/assignment/**/*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", None)) == "business_status"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                given.add(node.args[0].value)
    assert given  # the scan found the calls
    assert given <= set(ASSIGNMENT_STATUS.codes)


def test_the_turnaround_answer_uses_only_the_parameters_its_definition_declares() -> None:
    start = datetime(2026, 3, 1, 8, tzinfo=UTC)
    milestones = {name: start + timedelta(minutes=10 * n) for n, name in enumerate(MILESTONES)}
    facts = OrderFacts(
        order_id="o-1",
        facility="Organization/f-1",
        contract="OrganizationAffiliation/c-1",
        modality="CT",
        priority="stat",
        stroke=False,
        radiologist="Practitioner/p-1",
        owner="PractitionerRole/r-1",
        task="Task/t-1",
        clock="images-to-preliminary",
        started_at=milestones["images-available"],
        stopped_at=milestones["preliminary"],
        deadline=start + timedelta(hours=1),
        target_minutes=60,
        paused_minutes=0,
        on_hold=False,
        milestones=milestones,
        task_deadline=start + timedelta(hours=1),
    )
    declared = {p.name: p for p in TURNAROUND.parameters if p.use == "out"}
    answer = turnaround_parameters(facts, now=start + timedelta(hours=2))["parameter"]
    assert {p["name"] for p in answer} == set(declared)
    for parameter in answer:
        definition = declared[parameter["name"]]
        parts = {part["name"] for part in parameter.get("part", [])}
        assert parts == {part.name for part in definition.parts}

"""The demo roster and contracts for the local run (services.assignment.demo_roster): the
platform's reading group covering the six demo facilities around the clock, a partner
vendor taking night overflow, and realistic gaps (privileges without a licence there, a
lapsed licence, lapsed privileges).

The representation is docs/assignment.md's, "Roster and contracts in FHIR": licences are
Da Vinci Plan-Net practitioner-qualifications; membership in a reading group is a
PractitionerRole coded reading-role#radiologist, with shifts, modalities, subspecialties
and capacity; privileges are PractitionerRoles whose `organization` is the facility;
contracts are OrganizationAffiliations. Seeding is conditional creates -- a Practitioner
by NPI, a role by (practitioner, organization), a contract by (facility, reading group,
kind) -- so running it again changes nothing. The organizations come from intake: run
`python -m services.assignment.seed` with intake running and seeded (INTAKE_URL applies),
or call `seed` with their references (`make run` does, from services.intake.seed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from services.assignment import codes
from services.assignment.demo_roster import CONTRACTS, ROSTER, ContractTerms, Radiologist
from services.assignment.resources import REGISTRY
from services.intake.codes import NPI_SYSTEM
from services.intake.seed import FACILITIES, OPERATOR, VENDORS
from shared.auth import Principal
from shared.db import Database
from shared.fhir.bundles import parse_bundle, run_transaction
from shared.fhir.search.request import SearchLimits
from shared.fhir.service import FhirService
from shared.peers import Peers
from shared.settings import ServiceSettings

SEED_PRINCIPAL = Principal(client_id="seed", scopes=frozenset({"system/*.cruds"}))
DEGREE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0360"
RADIOLOGY = {"system": "http://snomed.info/sct", "code": "394914008", "display": "Radiology"}
LICENSED_SINCE = "2019-07-01"
LAPSED = "2023-06-30"  # when the roster's lapsed licences and privileges ended
CONTRACTED_SINCE = "2024-01-01"
# Intake's demo organizations (services.intake.seed) by key: NPI.
ORGANIZATION_NPIS = {key: npi for key, _, _, _, npi in [*FACILITIES, OPERATOR, *VENDORS]}
FACILITY_NPIS = {key: npi for key, _, _, _, npi in FACILITIES}


def licence(state: str, *, lapsed: bool = False) -> dict[str, Any]:
    """A state medical licence as a Plan-Net qualification (active, or lapsed)."""
    period = {"start": LICENSED_SINCE, **({"end": LAPSED} if lapsed else {})}
    return {
        "extension": [
            {
                "url": codes.PLAN_NET_QUALIFICATION,
                "extension": [
                    {"url": "status", "valueCode": "inactive" if lapsed else "active"},
                    {
                        "url": "whereValid",
                        "valueCodeableConcept": {
                            "coding": [{"system": codes.USPS_SYSTEM, "code": state}]
                        },
                    },
                ],
            }
        ],
        "code": {"coding": [{"system": DEGREE_SYSTEM, "code": "MD"}], "text": "Medical licence"},
        "period": period,
    }


BOARD_CERTIFICATION = {
    "code": {"text": "American Board of Radiology: Diagnostic Radiology"},
    "issuer": {"display": "American Board of Radiology"},
    "period": {"start": "2012-06-01"},
}


def practitioners_bundle() -> dict[str, Any]:
    """The roster's radiologists with their licences, as one transaction Bundle."""
    entries = []
    for reader in ROSTER:
        practitioner = {
            "resourceType": "Practitioner",
            "identifier": [{"system": NPI_SYSTEM, "value": reader.npi}],
            "active": True,
            "name": [{"family": reader.family, "given": [reader.given], "prefix": ["Dr."]}],
            "qualification": [licence(state) for state in reader.licensed]
            + [licence(state, lapsed=True) for state in reader.lapsed]
            + [BOARD_CERTIFICATION],
        }
        entries.append(_post(practitioner, f"identifier={NPI_SYSTEM}|{reader.npi}"))
    return _transaction(entries)


def _role_code(code: str) -> list[dict[str, Any]]:
    display = codes.READING_ROLES[code]
    return [{"coding": [{"system": codes.READING_ROLE_SYSTEM, "code": code, "display": display}]}]


def privilege_role(
    reader: Radiologist, practitioner: str, facility_key: str, facility: str
) -> dict[str, Any]:
    """One radiologist's privileges at one facility (a PractitionerRole)."""
    lapsed = facility_key in reader.lapsed_privileges
    return {
        "resourceType": "PractitionerRole",
        "active": True,
        "period": {"start": LICENSED_SINCE, **({"end": LAPSED} if lapsed else {})},
        "practitioner": {"reference": practitioner},
        "organization": {"reference": facility},
        "code": _role_code(codes.PRIVILEGES),
        "specialty": [{"coding": [RADIOLOGY]}],
    }


def membership_role(reader: Radiologist, practitioner: str, group: str) -> dict[str, Any]:
    """A radiologist reading for a reading group or vendor: shifts, modalities,
    subspecialties and capacity (a PractitionerRole coded radiologist)."""
    hours = reader.shift
    role: dict[str, Any] = {
        "resourceType": "PractitionerRole",
        "extension": [
            {"url": codes.TIMEZONE_EXTENSION, "valueCode": hours.zone},
            *({"url": codes.READ_MODALITY_EXTENSION, "valueCode": m} for m in reader.modalities),
            {
                "url": codes.READING_CAPACITY_EXTENSION,
                "extension": [
                    {"url": codes.MAX_OPEN_TASKS, "valueInteger": reader.max_open_tasks},
                    {"url": codes.MAX_RVU_PER_HOUR, "valueDecimal": reader.max_rvu_per_hour},
                ],
            },
        ],
        "active": True,
        "period": {"start": LICENSED_SINCE},
        "practitioner": {"reference": practitioner},
        "organization": {"reference": group},
        "code": _role_code(codes.RADIOLOGIST),
        "specialty": [{"coding": [_subspecialty(code)]} for code in reader.subspecialties],
        "availableTime": [
            {
                "daysOfWeek": list(hours.days),
                "availableStartTime": hours.start,
                "availableEndTime": hours.end,
            }
        ],
    }
    if reader.leave:
        start, end = reader.leave
        role["notAvailable"] = [
            {"description": "Annual leave", "during": {"start": start, "end": end}}
        ]
    return role


def _subspecialty(code: str) -> dict[str, str]:
    return {
        "system": codes.SUBSPECIALTY_SYSTEM,
        "code": code,
        "display": codes.SUBSPECIALTIES[code],
    }


def roles_bundle(
    practitioners: Mapping[str, str], organizations: Mapping[str, str]
) -> dict[str, Any]:
    """Each radiologist's membership of their reading group and privileges at facilities,
    as one transaction Bundle: `practitioners` and `organizations` map NPIs to references
    (Practitioner/<id>, intake's Organization/<id>)."""
    entries = []
    for reader in ROSTER:
        practitioner = practitioners[reader.npi]
        group = organizations[ORGANIZATION_NPIS[reader.group]]
        role = membership_role(reader, practitioner, group)
        entries.append(_post(role, f"practitioner={practitioner}&organization={group}"))
        for key in reader.privileged:
            facility = organizations[FACILITY_NPIS[key]]
            role = privilege_role(reader, practitioner, key, facility)
            entries.append(_post(role, f"practitioner={practitioner}&organization={facility}"))
    return _transaction(entries)


def affiliation(terms: ContractTerms, facility: str, group: str) -> dict[str, Any]:
    """One contract between a facility and a reading group or vendor."""
    extension: list[dict[str, Any]] = []
    if terms.hours:
        zone, start, end = terms.hours
        extension += [
            {"url": codes.TIMEZONE_EXTENSION, "valueCode": zone},
            {
                "url": codes.COVERAGE_HOURS_EXTENSION,
                "extension": [
                    *({"url": "daysOfWeek", "valueCode": day} for day in codes.DAYS_OF_WEEK),
                    {"url": "start", "valueTime": start},
                    {"url": "end", "valueTime": end},
                ],
            },
        ]
    extension += [
        {"url": codes.COVERED_MODALITY_EXTENSION, "valueCode": m} for m in terms.modalities
    ]
    extension += [
        {"url": codes.COVERED_PRIORITY_EXTENSION, "valueCode": p} for p in terms.priorities
    ]
    extension += [_sla_target(*target) for target in terms.targets]
    extension += [
        {
            "url": codes.SUBSPECIALIST_EXAM_EXTENSION,
            "extension": [
                {"url": "exam", "valueCoding": {"system": codes.CPT_SYSTEM, "code": cpt}},
                {"url": "subspecialty", "valueCode": subspecialty},
            ],
        }
        for cpt, subspecialty in terms.subspecialist_exams
    ]
    return {
        "resourceType": "OrganizationAffiliation",
        "extension": extension,
        "active": True,
        "period": {"start": CONTRACTED_SINCE},
        "organization": {"reference": facility},
        "participatingOrganization": {"reference": group},
        "code": [{"coding": [{"system": codes.CONTRACT_KIND_SYSTEM, "code": terms.kind}]}],
    }


def _sla_target(priority: str, value: int, unit: str) -> dict[str, Any]:
    return {
        "url": codes.SLA_TARGET_EXTENSION,
        "extension": [
            {"url": "priority", "valueCode": priority},
            {
                "url": "turnaround",
                "valueDuration": {
                    "value": value,
                    "unit": unit,
                    "system": codes.UCUM_SYSTEM,
                    "code": unit,
                },
            },
        ],
    }


def contracts_bundle(organizations: Mapping[str, str]) -> dict[str, Any]:
    """The demo contracts, as one transaction Bundle (`organizations` as in roles_bundle)."""
    entries = []
    for terms in CONTRACTS:
        facility = organizations[FACILITY_NPIS[terms.facility]]
        group = organizations[ORGANIZATION_NPIS[terms.group]]
        query = (
            f"primary-organization={facility}&participating-organization={group}"
            f"&role={codes.CONTRACT_KIND_SYSTEM}|{terms.kind}"
        )
        entries.append(_post(affiliation(terms, facility, group), query))
    return _transaction(entries)


def _post(resource: dict[str, Any], if_none_exist: str) -> dict[str, Any]:
    return {
        "resource": resource,
        "request": {
            "method": "POST",
            "url": resource["resourceType"],
            "ifNoneExist": if_none_exist,
        },
    }


def _transaction(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


async def seed(settings: ServiceSettings, organizations: Mapping[str, str]) -> int:
    """Load the demo roster and contracts; `organizations` maps each demo facility's and
    reading group's NPI to its reference at intake (Organization/<id>). Returns how many
    resources were newly created."""
    missing = sorted(set(ORGANIZATION_NPIS.values()) - set(organizations))
    if missing:
        raise ValueError(f"demo organizations unknown at intake (NPI {', '.join(missing)})")
    database = Database(settings.resolved_database_url)
    try:
        async with database.transaction() as session:
            fhir = FhirService(
                session=session,
                registry=REGISTRY,
                principal=SEED_PRINCIPAL,
                limits=SearchLimits(settings.search_default_count, settings.search_max_count),
                base_url="",
            )
            created = await _run(fhir, practitioners_bundle())
            practitioners = {}
            for reader in ROSTER:
                query = f"identifier={NPI_SYSTEM}|{reader.npi}"
                (stored,) = await fhir.match_ids("Practitioner", query)
                practitioners[reader.npi] = f"Practitioner/{stored.id}"
            created += await _run(fhir, roles_bundle(practitioners, organizations))
            created += await _run(fhir, contracts_bundle(organizations))
    finally:
        await database.dispose()
    return created


async def _run(fhir: FhirService, bundle: dict[str, Any]) -> int:
    _, entries = parse_bundle(bundle, "")
    response = await run_transaction(fhir, entries, include_resources=False)
    return sum(1 for e in response["entry"] if e["response"]["status"].startswith("201"))


async def organization_references(peers: Peers) -> dict[str, str]:
    """The demo organizations' references at intake, by NPI (those intake does not know
    are left out)."""
    references = {}
    for npi in ORGANIZATION_NPIS.values():
        found = await peers.search("intake", "Organization", {"identifier": f"{NPI_SYSTEM}|{npi}"})
        if found:
            references[npi] = f"Organization/{found[0]['id']}"
    return references


async def _main(settings: ServiceSettings) -> int:
    peers = Peers(settings)
    try:
        organizations = await organization_references(peers)
    finally:
        await peers.aclose()
    return await seed(settings, organizations)


if __name__ == "__main__":
    created = asyncio.run(_main(ServiceSettings(service_name="assignment")))
    print(f"demo roster: {created} resources created")

"""The demo roster for the local run: twelve radiologists licensed across the six demo
facilities' states, with privileges at those facilities, so that every demo order finds
an eligible reader (services.assignment.matching) -- and some privileges that do not make
one (no licence in the facility's state, or a lapsed one), as in real rosters.

Licences are Da Vinci Plan-Net practitioner-qualifications (services.assignment.roster);
privileges are PractitionerRoles whose `organization` is the facility, as intake stores it.
Seeding is conditional creates -- a Practitioner by NPI, a privilege by (practitioner,
facility) -- so running it again changes nothing. The facilities come from intake: run
`python -m services.assignment.seed` with intake running and seeded (INTAKE_URL applies),
or call `seed` with their references (`make run` does, from services.intake.seed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.assignment.resources import REGISTRY
from services.assignment.roster import PLAN_NET_QUALIFICATION, USPS_SYSTEM
from services.intake.codes import NPI_SYSTEM
from services.intake.seed import FACILITIES
from shared.auth import Principal
from shared.db import Database
from shared.fhir.bundles import parse_bundle, run_transaction
from shared.fhir.search.request import SearchLimits
from shared.fhir.service import FhirService
from shared.peers import Peers
from shared.settings import ServiceSettings

SEED_PRINCIPAL = Principal(client_id="seed", scopes=frozenset({"system/*.cruds"}))
DEGREE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0360"
ROLE_SYSTEM = "http://terminology.hl7.org/CodeSystem/practitioner-role"
RADIOLOGY = {"system": "http://snomed.info/sct", "code": "394914008", "display": "Radiology"}
LICENSED_SINCE = "2019-07-01"
LAPSED = "2023-06-30"  # when the roster's lapsed licences ended
# The intake demo facilities (services.intake.seed.FACILITIES keys).
DAL, LA, CHI, TPA, DEN, ALB = (
    "mercy-dallas",
    "harbor-la",
    "lakeside-chicago",
    "bayview-tampa",
    "summit-denver",
    "hudson-albany",
)


@dataclass(frozen=True, slots=True)
class Radiologist:
    family: str
    given: str
    npi: str
    licensed: tuple[str, ...]  # states (USPS codes) of the active licences
    privileged: tuple[str, ...]  # intake demo facility keys (services.intake.seed)
    lapsed: tuple[str, ...] = ()  # states of licences that ended (LAPSED)


# Most teleradiologists hold several state licences and privileges at many facilities.
ROSTER = (
    Radiologist("Chen", "Wei", "1900012174", ("TX", "CA", "NY"), (DAL, LA, ALB)),
    Radiologist("Alvarez", "Sofia", "1900023346", ("TX", "FL"), (DAL, TPA)),
    Radiologist("Whitfield", "Thomas", "1900034517", ("CA", "CO"), (LA, DEN)),
    Radiologist("Haddad", "Leila", "1900045687", ("IL", "NY"), (CHI, ALB)),
    Radiologist("Novak", "Petra", "1900056858", ("CO", "TX", "IL"), (DEN, DAL, CHI)),
    Radiologist("Adeyemi", "Tunde", "1900068028", ("FL", "NY"), (TPA, ALB)),
    Radiologist("Larsen", "Erik", "1900079199", ("CA",), (LA,)),
    Radiologist("Morales", "Diego", "1900090360", ("TX", "CO"), (DAL, DEN)),
    Radiologist("Kim", "Soo-jin", "1900101530", ("IL", "FL", "CA"), (CHI, TPA, LA)),
    Radiologist("Fitzgerald", "Claire", "1900112701", ("NY", "IL"), (ALB, CHI)),
    # Privileges in Dallas without a Texas licence: never eligible there.
    Radiologist("Rossi", "Marco", "1900123872", ("FL",), (TPA, DAL)),
    # A lapsed Texas licence: eligible in Denver, not in Dallas.
    Radiologist("Singh", "Harpreet", "1900135041", ("CO", "CA"), (DEN, DAL), lapsed=("TX",)),
)
FACILITY_NPIS = {key: npi for key, _, _, _, npi in FACILITIES}


def licence(state: str, *, lapsed: bool = False) -> dict[str, Any]:
    """A state medical licence as a Plan-Net qualification (active, or lapsed)."""
    period = {"start": LICENSED_SINCE, **({"end": LAPSED} if lapsed else {})}
    return {
        "extension": [
            {
                "url": PLAN_NET_QUALIFICATION,
                "extension": [
                    {"url": "status", "valueCode": "inactive" if lapsed else "active"},
                    {
                        "url": "whereValid",
                        "valueCodeableConcept": {
                            "coding": [{"system": USPS_SYSTEM, "code": state}]
                        },
                    },
                ],
            }
        ],
        "code": {"coding": [{"system": DEGREE_SYSTEM, "code": "MD"}], "text": "Medical licence"},
        "period": period,
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
            + [licence(state, lapsed=True) for state in reader.lapsed],
        }
        entries.append(_post(practitioner, f"identifier={NPI_SYSTEM}|{reader.npi}"))
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def privileges_bundle(
    practitioners: Mapping[str, str], facilities: Mapping[str, str]
) -> dict[str, Any]:
    """Each radiologist's facility privileges, as one transaction Bundle: `practitioners`
    and `facilities` map NPIs to references (Practitioner/<id>, intake's Organization/<id>)."""
    entries = []
    for reader in ROSTER:
        for key in reader.privileged:
            practitioner, facility = practitioners[reader.npi], facilities[FACILITY_NPIS[key]]
            role = {
                "resourceType": "PractitionerRole",
                "active": True,
                "period": {"start": LICENSED_SINCE},
                "practitioner": {"reference": practitioner},
                "organization": {"reference": facility},
                "code": [
                    {"coding": [{"system": ROLE_SYSTEM, "code": "doctor"}], "text": "Privileges"}
                ],
                "specialty": [{"coding": [RADIOLOGY]}],
            }
            entries.append(_post(role, f"practitioner={practitioner}&organization={facility}"))
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _post(resource: dict[str, Any], if_none_exist: str) -> dict[str, Any]:
    return {
        "resource": resource,
        "request": {
            "method": "POST",
            "url": resource["resourceType"],
            "ifNoneExist": if_none_exist,
        },
    }


async def seed(settings: ServiceSettings, facilities: Mapping[str, str]) -> int:
    """Load the demo roster; `facilities` maps each demo facility's NPI to its reference at
    intake (Organization/<id>). Returns how many resources were newly created."""
    missing = sorted(set(FACILITY_NPIS.values()) - set(facilities))
    if missing:
        raise ValueError(f"demo facilities unknown at intake (NPI {', '.join(missing)})")
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
            created += await _run(fhir, privileges_bundle(practitioners, facilities))
    finally:
        await database.dispose()
    return created


async def _run(fhir: FhirService, bundle: dict[str, Any]) -> int:
    _, entries = parse_bundle(bundle, "")
    response = await run_transaction(fhir, entries, include_resources=False)
    return sum(1 for e in response["entry"] if e["response"]["status"].startswith("201"))


async def facility_references(peers: Peers) -> dict[str, str]:
    """The demo facilities' references at intake, by NPI (those intake does not know are
    left out)."""
    references = {}
    for npi in FACILITY_NPIS.values():
        found = await peers.search("intake", "Organization", {"identifier": f"{NPI_SYSTEM}|{npi}"})
        if found:
            references[npi] = f"Organization/{found[0]['id']}"
    return references


async def _main(settings: ServiceSettings) -> int:
    peers = Peers(settings)
    try:
        facilities = await facility_references(peers)
    finally:
        await peers.aclose()
    return await seed(settings, facilities)


if __name__ == "__main__":
    created = asyncio.run(_main(ServiceSettings(service_name="assignment")))
    print(f"demo roster: {created} resources created")

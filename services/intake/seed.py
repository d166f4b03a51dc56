"""A small, realistic demo for the local run: facilities in several states, their DICOMweb
endpoints, patients, and imaging orders -- some with their studies already acquired.

Two transaction Bundles of conditional and re-send-safe creates, so running them again
changes nothing: the facilities, the platform's own reading group and a partner reading
group, whose development client (deploy/dev/auth/clients.json) names it by NPI -- first
(`seed_facilities`; other services' demo data name them, e.g. assignment's roster grants
privileges at the facilities and holds the contracts between them and the reading groups),
then the patients, orders and studies (`seed_orders`), which name the facilities by NPI. `make run` loads the orders only
once the services consuming order events have subscribed, so that each order's events
reach them. Run both with `python -m services.intake.seed` (DATABASE_URL applies).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from services.intake.codes import (
    DICOM_UID_SYSTEM,
    IDENTIFIER_TYPE_SYSTEM,
    NPI_SYSTEM,
    ORGANIZATION_ROLE_SYSTEM,
    READING_GROUP,
)
from services.intake.resources import REGISTRY
from shared.auth import Principal
from shared.db import Database
from shared.fhir.bundles import parse_bundle, run_transaction
from shared.fhir.search.request import SearchLimits
from shared.fhir.service import FhirService
from shared.settings import ServiceSettings

CPT_SYSTEM = "http://www.ama-assn.org/go/cpt"
DICOM_MODALITY = "http://dicom.nema.org/resources/ontology/DCM"
SEED_PRINCIPAL = Principal(client_id="seed", scopes=frozenset({"system/*.cruds"}))

# (key, name, city, state, NPI) -- fictitious facilities in four US time zones.
FACILITIES = [
    ("mercy-dallas", "Mercy General Hospital", "Dallas", "TX", "1003000126"),
    ("harbor-la", "Harbor Imaging Center", "Los Angeles", "CA", "1013000133"),
    ("lakeside-chicago", "Lakeside Community Hospital", "Chicago", "IL", "1023000140"),
    ("bayview-tampa", "Bayview Medical Center", "Tampa", "FL", "1033000157"),
    ("summit-denver", "Summit Orthopedic & Imaging", "Denver", "CO", "1043000164"),
    ("hudson-albany", "Hudson Valley Hospital", "Albany", "NY", "1053000171"),
]
# (key, name, city, state, NPI) -- a fictitious partner reading group (a vendor).
VENDORS = [("nightwatch", "Nightwatch Teleradiology", "Austin", "TX", "1063000172")]
# (key, name, city, state, NPI) -- the platform's own reading group (the operator), whose
# radiologists read under the facilities' primary contracts (assignment's demo roster).
OPERATOR = ("meridian", "Meridian Teleradiology", "Minneapolis", "MN", "1073000188")
# (CPT, display, DICOM modality) with the exam mix a night-time read service sees.
EXAMS = [
    ("70450", "CT head without contrast", "CT"),
    ("71250", "CT chest without contrast", "CT"),
    ("74177", "CT abdomen and pelvis with contrast", "CT"),
    ("70551", "MRI brain without contrast", "MR"),
    ("71046", "X-ray chest, 2 views", "DX"),
    ("76700", "Ultrasound abdomen, complete", "US"),
]
PATIENTS = [
    ("Garcia", "Maria", "female", "1958-04-12"),
    ("Johnson", "Robert", "male", "1946-11-03"),
    ("Nguyen", "Linh", "female", "1989-07-22"),
    ("Okafor", "Chidi", "male", "1972-01-30"),
    ("Schmidt", "Anna", "female", "1965-09-15"),
    ("Patel", "Ravi", "male", "2001-05-08"),
    ("Kowalski", "Ewa", "female", "1939-12-24"),
    ("Brown", "James", "male", "1984-03-17"),
    ("Yamamoto", "Keiko", "female", "1977-06-01"),
    ("Silva", "Lucas", "male", "2015-10-10"),
    ("Müller", "Jonas", "male", "1993-02-28"),
    ("O'Brien", "Siobhan", "female", "1951-08-19"),
]
PRIORITIES = ["stat", "routine", "urgent", "routine", "asap", "routine", "stat", "routine"]


def facility_reference(npi: str) -> str:
    """A conditional reference to the demo facility with this NPI (resolved in a transaction)."""
    return f"Organization?identifier={NPI_SYSTEM}|{npi}"


def _vendor_entry(
    key: str, name: str, city: str, state: str, npi: str, display: str = "Partner reading group"
) -> dict[str, Any]:
    organization = {
        "resourceType": "Organization",
        "identifier": [{"system": NPI_SYSTEM, "value": npi}],
        "active": True,
        "type": [
            {
                "coding": [
                    {
                        "system": ORGANIZATION_ROLE_SYSTEM,
                        "code": READING_GROUP,
                        "display": display,
                    }
                ]
            }
        ],
        "name": name,
        "address": [{"city": city, "state": state, "country": "US"}],
    }
    return _post(f"urn:uuid:org-{key}", organization, f"identifier={NPI_SYSTEM}|{npi}")


def _endpoint_identifier(key: str) -> tuple[str, str]:
    return f"urn:demo:{key}:endpoint", "dicomweb"


def _facility_entries(key: str, name: str, city: str, state: str, npi: str) -> list[dict[str, Any]]:
    organization = {
        "resourceType": "Organization",
        "identifier": [{"system": NPI_SYSTEM, "value": npi}],
        "active": True,
        "type": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/organization-type",
                        "code": "prov",
                        "display": "Healthcare Provider",
                    }
                ]
            }
        ],
        "name": name,
        "address": [{"city": city, "state": state, "country": "US"}],
    }
    system, value = _endpoint_identifier(key)
    endpoint = {
        "resourceType": "Endpoint",
        "identifier": [{"system": system, "value": value}],
        "status": "active",
        "connectionType": {
            "system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
            "code": "dicom-wado-rs",
        },
        "name": f"{name} DICOMweb",
        "managingOrganization": {"reference": f"urn:uuid:org-{key}"},
        "payloadType": [{"text": "DICOM"}],
        "address": f"https://pacs.{key}.example.org/dicomweb",
    }
    return [
        _post(f"urn:uuid:org-{key}", organization, f"identifier={NPI_SYSTEM}|{npi}"),
        _post(f"urn:uuid:endpoint-{key}", endpoint, f"identifier={system}|{value}"),
    ]


def _post(
    full_url: str, resource: dict[str, Any], if_none_exist: str | None = None
) -> dict[str, Any]:
    request: dict[str, Any] = {"method": "POST", "url": resource["resourceType"]}
    if if_none_exist:
        request["ifNoneExist"] = if_none_exist
    return {"fullUrl": full_url, "resource": resource, "request": request}


def _typed_identifier(code: str, system: str, value: str) -> dict[str, Any]:
    return {
        "type": {"coding": [{"system": IDENTIFIER_TYPE_SYSTEM, "code": code}]},
        "system": system,
        "value": value,
    }


def _transaction(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def facilities_bundle() -> dict[str, Any]:
    """The demo facilities and their DICOMweb endpoints, the platform's reading group and
    the partner reading groups, as one transaction Bundle."""
    entries = [e for facility in FACILITIES for e in _facility_entries(*facility)]
    entries.append(_vendor_entry(*OPERATOR, display="Reading group (platform operator)"))
    return _transaction(entries + [_vendor_entry(*vendor) for vendor in VENDORS])


def orders_bundle(now: datetime | None = None) -> dict[str, Any]:
    """The demo patients, orders and studies, as one transaction Bundle naming the
    facilities (stored by `facilities_bundle`) by conditional reference."""
    now = now or datetime.now(UTC)
    entries = [_post(f"urn:uuid:patient-{i}", _patient(i)) for i in range(len(PATIENTS))]
    for index in range(16):
        # The patient's facility orders (so the patient lives in the facility's state).
        key, _, _, _, npi = FACILITIES[(index % len(PATIENTS)) % len(FACILITIES)]
        authored = now - timedelta(minutes=17 * (16 - index))
        entries.append(_post(f"urn:uuid:order-{index}", _order(index, key, npi, authored)))
        if index % 3 != 2:  # two orders in three already have their images
            entries.append(_post(f"urn:uuid:study-{index}", _study(index, key, authored)))
    return _transaction(entries)


def _patient(index: int) -> dict[str, Any]:
    family, given, gender, birth_date = PATIENTS[index]
    key, _, _, state, npi = FACILITIES[index % len(FACILITIES)]
    return {
        "resourceType": "Patient",
        "identifier": [_typed_identifier("MR", f"urn:demo:{key}:mrn", f"MRN{1000 + index}")],
        "name": [{"family": family, "given": [given]}],
        "gender": gender,
        "birthDate": birth_date,
        "address": [{"state": state, "country": "US"}],
        "managingOrganization": {"reference": facility_reference(npi)},
    }


def _order(index: int, key: str, npi: str, authored: datetime) -> dict[str, Any]:
    cpt, display, _ = EXAMS[index % len(EXAMS)]
    return {
        "resourceType": "ServiceRequest",
        "identifier": [
            _typed_identifier("ACSN", f"urn:demo:{key}:accession", f"ACC{240000 + index}")
        ],
        "status": "active",
        "intent": "order",
        "priority": PRIORITIES[index % len(PRIORITIES)],
        "category": [
            {
                "coding": [
                    {"system": "http://snomed.info/sct", "code": "363679005", "display": "Imaging"}
                ]
            }
        ],
        "code": {"coding": [{"system": CPT_SYSTEM, "code": cpt, "display": display}]},
        "subject": {"reference": f"urn:uuid:patient-{index % len(PATIENTS)}"},
        "requester": {"reference": facility_reference(npi)},
        "authoredOn": authored.isoformat(timespec="seconds"),
    }


def _study(index: int, key: str, authored: datetime) -> dict[str, Any]:
    patient_index = index % len(PATIENTS)
    modality = EXAMS[index % len(EXAMS)][2]
    system, value = _endpoint_identifier(key)
    return {
        "resourceType": "ImagingStudy",
        "identifier": [{"system": DICOM_UID_SYSTEM, "value": f"urn:oid:2.25.{900000 + index}"}],
        "status": "available",
        "modality": [{"system": DICOM_MODALITY, "code": modality}],
        "subject": {"reference": f"urn:uuid:patient-{patient_index}"},
        "basedOn": [{"reference": f"urn:uuid:order-{index}"}],
        "started": (authored + timedelta(minutes=6)).isoformat(timespec="seconds"),
        "endpoint": [{"reference": f"Endpoint?identifier={system}|{value}"}],
        "numberOfSeries": 2,
        "numberOfInstances": 180 if modality in ("CT", "MR") else 2,
        "series": [
            {
                "uid": f"2.25.{900000 + index}.{series}",
                "number": series,
                "modality": {"system": DICOM_MODALITY, "code": modality},
                "numberOfInstances": 90 if modality in ("CT", "MR") else 1,
            }
            for series in (1, 2)
        ],
    }


def _fhir(session: Any, settings: ServiceSettings) -> FhirService:
    return FhirService(
        session=session,
        registry=REGISTRY,
        principal=SEED_PRINCIPAL,
        limits=SearchLimits(settings.search_default_count, settings.search_max_count),
        base_url="",
    )


def _created(response: dict[str, Any]) -> int:
    return sum(1 for e in response["entry"] if e["response"]["status"].startswith("201"))


async def seed_facilities(settings: ServiceSettings) -> dict[str, str]:
    """Load the demo facilities (and endpoints) and reading groups; returns the reference
    of each facility and reading group (the operator's, the vendors') by NPI, e.g.
    {"1003000126": "Organization/<id>"}."""
    database = Database(settings.resolved_database_url)
    try:
        async with database.transaction() as session:
            fhir = _fhir(session, settings)
            _, entries = parse_bundle(facilities_bundle(), "")
            await run_transaction(fhir, entries, include_resources=False)
            references = {}
            for *_, npi in [*FACILITIES, OPERATOR, *VENDORS]:
                (stored,) = await fhir.match_ids("Organization", f"identifier={NPI_SYSTEM}|{npi}")
                references[npi] = f"Organization/{stored.id}"
    finally:
        await database.dispose()
    return references


async def seed_orders(settings: ServiceSettings, now: datetime | None = None) -> int:
    """Load the demo patients, orders and studies (the facilities must be loaded); returns
    how many resources were newly created."""
    database = Database(settings.resolved_database_url)
    try:
        async with database.transaction() as session:
            _, entries = parse_bundle(orders_bundle(now), "")
            response = await run_transaction(
                _fhir(session, settings), entries, include_resources=False
            )
    finally:
        await database.dispose()
    return _created(response)


async def seed(settings: ServiceSettings) -> int:
    """Load the whole demo; returns how many orders, patients and studies were newly
    created."""
    await seed_facilities(settings)
    return await seed_orders(settings)


if __name__ == "__main__":
    created = asyncio.run(seed(ServiceSettings(service_name="intake")))
    print(f"demo data: {created} orders, patients and studies created")

"""A small, realistic demo for the local run: facilities in several states, their DICOMweb
endpoints, patients, and imaging orders -- some with their studies already acquired.

Seeding is one transaction Bundle of conditional and re-send-safe creates, so running it
again changes nothing. Run it with `python -m services.intake.seed` (DATABASE_URL applies).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from services.intake.codes import DICOM_UID_SYSTEM, IDENTIFIER_TYPE_SYSTEM, NPI_SYSTEM
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
    endpoint = {
        "resourceType": "Endpoint",
        "identifier": [{"system": f"urn:demo:{key}:endpoint", "value": "dicomweb"}],
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
        _post(
            f"urn:uuid:endpoint-{key}",
            endpoint,
            f"identifier=urn:demo:{key}:endpoint|dicomweb",
        ),
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


def demo_bundle(now: datetime | None = None) -> dict[str, Any]:
    """The demo as one transaction Bundle."""
    now = now or datetime.now(UTC)
    entries: list[dict[str, Any]] = []
    for facility in FACILITIES:
        entries += _facility_entries(*facility)
    for index, (family, given, gender, birth_date) in enumerate(PATIENTS):
        key, _, _, state, _ = FACILITIES[index % len(FACILITIES)]
        patient = {
            "resourceType": "Patient",
            "identifier": [_typed_identifier("MR", f"urn:demo:{key}:mrn", f"MRN{1000 + index}")],
            "name": [{"family": family, "given": [given]}],
            "gender": gender,
            "birthDate": birth_date,
            "address": [{"state": state, "country": "US"}],
            "managingOrganization": {"reference": f"urn:uuid:org-{key}"},
        }
        entries.append(_post(f"urn:uuid:patient-{index}", patient))
    for index in range(16):
        patient_index = index % len(PATIENTS)
        key = FACILITIES[patient_index % len(FACILITIES)][0]
        cpt, display, modality = EXAMS[index % len(EXAMS)]
        authored = now - timedelta(minutes=17 * (16 - index))
        accession = f"ACC{240000 + index}"
        order = {
            "resourceType": "ServiceRequest",
            "identifier": [_typed_identifier("ACSN", f"urn:demo:{key}:accession", accession)],
            "status": "active",
            "intent": "order",
            "priority": PRIORITIES[index % len(PRIORITIES)],
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://snomed.info/sct",
                            "code": "363679005",
                            "display": "Imaging",
                        }
                    ]
                }
            ],
            "code": {"coding": [{"system": CPT_SYSTEM, "code": cpt, "display": display}]},
            "subject": {"reference": f"urn:uuid:patient-{patient_index}"},
            "requester": {"reference": f"urn:uuid:org-{key}"},
            "authoredOn": authored.isoformat(timespec="seconds"),
        }
        entries.append(_post(f"urn:uuid:order-{index}", order))
        if index % 3 != 2:  # two orders in three already have their images
            entries.append(_post(f"urn:uuid:study-{index}", _study(index, key, modality, authored)))
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _study(index: int, key: str, modality: str, authored: datetime) -> dict[str, Any]:
    return {
        "resourceType": "ImagingStudy",
        "identifier": [{"system": DICOM_UID_SYSTEM, "value": f"urn:oid:2.25.{900000 + index}"}],
        "status": "available",
        "modality": [{"system": DICOM_MODALITY, "code": modality}],
        "subject": {"reference": f"urn:uuid:patient-{index % len(PATIENTS)}"},
        "basedOn": [{"reference": f"urn:uuid:order-{index}"}],
        "started": (authored + timedelta(minutes=6)).isoformat(timespec="seconds"),
        "endpoint": [{"reference": f"urn:uuid:endpoint-{key}"}],
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


async def seed(settings: ServiceSettings) -> int:
    """Load the demo; returns how many resources were newly created."""
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
            _, entries = parse_bundle(demo_bundle(), "")
            response = await run_transaction(fhir, entries, include_resources=False)
    finally:
        await database.dispose()
    return sum(1 for e in response["entry"] if e["response"]["status"].startswith("201"))


if __name__ == "__main__":
    created = asyncio.run(seed(ServiceSettings(service_name="intake")))
    print(f"demo data: {created} resources created")

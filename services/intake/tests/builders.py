"""Intake resources as a facility's EHR sends them: patient, facility, order and study.

Each builder returns a fresh dict (tests mutate them freely). Identifiers follow the
intake rules: MRN typed MR, accession typed ACSN, placer typed PLAC (HL7 v2-0203), and the
Study Instance UID under urn:dicom:uid.
"""

from __future__ import annotations

from typing import Any

import httpx

from services.intake.codes import (
    DICOM_UID_SYSTEM,
    IDENTIFIER_TYPE_SYSTEM,
    ORDERING_FACILITY_EXTENSION,
)

MRN_SYSTEM = "urn:oid:2.16.840.1.113883.3.7418.1"
ACCESSION_SYSTEM = "urn:oid:2.16.840.1.113883.3.7418.2"
PLACER_SYSTEM = "urn:oid:2.16.840.1.113883.3.7418.3"
NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
CT_HEAD = {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "70450"}]}


def typed_identifier(type_code: str, system: str, value: str) -> dict[str, Any]:
    return {
        "type": {"coding": [{"system": IDENTIFIER_TYPE_SYSTEM, "code": type_code}]},
        "system": system,
        "value": value,
    }


def accession(value: str) -> dict[str, Any]:
    return typed_identifier("ACSN", ACCESSION_SYSTEM, value)


def placer(value: str) -> dict[str, Any]:
    return typed_identifier("PLAC", PLACER_SYSTEM, value)


def study_uid(value: str) -> dict[str, Any]:
    return {"system": DICOM_UID_SYSTEM, "value": f"urn:oid:{value}"}


def patient(mrn: str = "MRN-1001", family: str = "Rivera") -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [typed_identifier("MR", MRN_SYSTEM, mrn)],
        "name": [{"family": family, "given": ["Ana"]}],
        "gender": "female",
        "birthDate": "1961-04-12",
        "address": [{"state": "TX"}],
    }


def facility(npi: str = "1234567893", name: str = "Lakeside Imaging Center") -> dict[str, Any]:
    return {
        "resourceType": "Organization",
        "identifier": [{"system": NPI_SYSTEM, "value": npi}],
        "name": name,
        "address": [{"state": "TX"}],
    }


def order(
    patient_ref: str,
    facility_ref: str,
    accession_number: str = "ACC-2001",
    **fields: Any,
) -> dict[str, Any]:
    """A CT head order; `fields` override or add elements (None removes one)."""
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "identifier": [accession(accession_number)],
        "status": "active",
        "intent": "order",
        "code": CT_HEAD,
        "subject": {"reference": patient_ref},
        "requester": {"reference": facility_ref},
    }
    for key, value in fields.items():
        if value is None:
            resource.pop(key, None)
        else:
            resource[key] = value
    return resource


def facility_extension(facility_ref: str) -> list[dict[str, Any]]:
    return [{"url": ORDERING_FACILITY_EXTENSION, "valueReference": {"reference": facility_ref}}]


def study(
    order_ref: str | None, patient_ref: str, uid: str = "1.2.840.113619.2.55.3.1", **fields: Any
) -> dict[str, Any]:
    """A one-series CT study based on `order_ref`; `fields` override (None removes)."""
    resource: dict[str, Any] = {
        "resourceType": "ImagingStudy",
        "identifier": [study_uid(uid)],
        "status": "available",
        "subject": {"reference": patient_ref},
        "started": "2025-03-14T02:10:00Z",
        "numberOfSeries": 1,
        "numberOfInstances": 120,
        "series": [
            {
                "uid": f"{uid}.1",
                "modality": {
                    "system": "http://dicom.nema.org/resources/ontology/DCM",
                    "code": "CT",
                },
                "numberOfInstances": 120,
            }
        ],
    }
    if order_ref is not None:
        resource["basedOn"] = [{"reference": order_ref}]
    for key, value in fields.items():
        if value is None:
            resource.pop(key, None)
        else:
            resource[key] = value
    return resource


async def create(client: httpx.AsyncClient, resource: dict[str, Any]) -> dict[str, Any]:
    """POST `resource`, insist on 201, and return what was stored."""
    response = await client.post(f"/{resource['resourceType']}", json=resource)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def count(client: httpx.AsyncClient, resource_type: str, **params: str) -> int:
    """How many current resources of a type match `params` (a search total)."""
    response = await client.get(f"/{resource_type}", params={**params, "_summary": "count"})
    assert response.status_code == 200, response.text
    total: int = response.json()["total"]
    return total


async def ordering_setup(client: httpx.AsyncClient) -> tuple[str, str]:
    """A stored patient and facility; their references."""
    stored_patient = await create(client, patient())
    stored_facility = await create(client, facility())
    return f"Patient/{stored_patient['id']}", f"Organization/{stored_facility['id']}"

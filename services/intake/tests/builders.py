"""Intake resources for tests, and the Bundles that carry them: every test of the suite
builds what it sends here.

Each builder returns a fresh dict (tests mutate them freely) and stores nothing; tests
store with tests.support.rest.create. References are given as reference strings
("Patient/1", "urn:uuid:...", "Patient?identifier=...") or as stored resources.

`registered_patient`, `facility`, `order` and `study` are what a facility's EHR sends, with
identifiers as the intake rules want them: MRN typed MR, accession typed ACSN, placer typed
PLAC (HL7 v2-0203), NPI, and the Study Instance UID under urn:dicom:uid. Their defaults
build the same resource on every call -- a re-send, which intake answers with the stored
one -- so a test storing several gives each its own number. `patient` and `organization`
carry only the elements given, which intake stores however often they are sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from services.intake.codes import (
    DICOM_UID_SYSTEM,
    IDENTIFIER_TYPE_SYSTEM,
    NPI_SYSTEM,
    ORDERING_FACILITY_EXTENSION,
)
from tests.support.rest import create

MRN_SYSTEM = "urn:oid:2.16.840.1.113883.3.7418.1"
ACCESSION_SYSTEM = "urn:oid:2.16.840.1.113883.3.7418.2"
PLACER_SYSTEM = "urn:oid:2.16.840.1.113883.3.7418.3"
CPT = "http://www.ama-assn.org/go/cpt"

Reference = str | Mapping[str, Any]


def reference(target: Reference) -> dict[str, str]:
    """A Reference to `target`: a reference string as it is, or a stored resource."""
    if isinstance(target, str):
        return {"reference": target}
    return {"reference": f"{target['resourceType']}/{target['id']}"}


def _overridden(resource: dict[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """`resource` with `fields` set, a None field removed."""
    for key, value in fields.items():
        if value is None:
            resource.pop(key, None)
        else:
            resource[key] = value
    return resource


# -- identifiers ------------------------------------------------------------------------


def typed_identifier(type_code: str, system: str, value: str) -> dict[str, Any]:
    return {
        "type": {"coding": [{"system": IDENTIFIER_TYPE_SYSTEM, "code": type_code}]},
        "system": system,
        "value": value,
    }


def medical_record_number(value: str) -> dict[str, Any]:
    return typed_identifier("MR", MRN_SYSTEM, value)


def accession(value: str) -> dict[str, Any]:
    return typed_identifier("ACSN", ACCESSION_SYSTEM, value)


def placer(value: str) -> dict[str, Any]:
    return typed_identifier("PLAC", PLACER_SYSTEM, value)


def study_uid(value: str) -> dict[str, Any]:
    return {"system": DICOM_UID_SYSTEM, "value": f"urn:oid:{value}"}


def identifier(value: str, system: str = "urn:test:patient") -> list[dict[str, str]]:
    """A plain identifier list (untyped, so intake does not keep it unique)."""
    return [{"system": system, "value": value}]


# -- patients and facilities ------------------------------------------------------------


def patient(**elements: Any) -> dict[str, Any]:
    """A Patient of just `elements` (without an MRN, each one sent is stored)."""
    return {"resourceType": "Patient", **elements}


def registered_patient(mrn: str = "MRN-1001", family: str = "Rivera") -> dict[str, Any]:
    """A patient as the facility's EHR registered it: MRN, name, gender, birth date, state."""
    return patient(
        identifier=[medical_record_number(mrn)],
        name=[{"family": family, "given": ["Ana"]}],
        gender="female",
        birthDate="1961-04-12",
        address=[{"state": "TX"}],
    )


def named(family: str, *given: str) -> list[dict[str, Any]]:
    """A Patient.name list with one HumanName."""
    name: dict[str, Any] = {"family": family}
    if given:
        name["given"] = list(given)
    return [name]


async def patients(client: httpx.AsyncClient, *many: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Store a Patient of each set of elements, in order; the stored patients."""
    return [await create(client, patient(**elements)) for elements in many]


def organization(name: str = "Valley Imaging", **elements: Any) -> dict[str, Any]:
    """An Organization named `name`, with `elements` (without an NPI, each one is stored)."""
    return {"resourceType": "Organization", "name": name, **elements}


def facility(npi: str = "1234567893", name: str = "Lakeside Imaging Center") -> dict[str, Any]:
    """An imaging facility as EHRs name it: by its NPI (intake keeps one per NPI)."""
    identifiers = [{"system": NPI_SYSTEM, "value": npi}]
    return organization(name, identifier=identifiers, address=[{"state": "TX"}])


# -- orders and studies -----------------------------------------------------------------


def order(
    subject: Reference,
    requester: Reference,
    /,
    accession_number: str = "ACC-2001",
    **fields: Any,
) -> dict[str, Any]:
    """A CT head order of `subject` by the facility `requester`; `fields` override or add
    elements, `subject` and `requester` too (None removes one)."""
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "identifier": [accession(accession_number)],
        "status": "active",
        "intent": "order",
        "code": {"coding": [{"system": CPT, "code": "70450"}]},
        "subject": reference(subject),
        "requester": reference(requester),
    }
    return _overridden(resource, fields)


def facility_extension(ordering_facility: Reference) -> list[dict[str, Any]]:
    """The ordering-facility extension naming `ordering_facility`."""
    return [{"url": ORDERING_FACILITY_EXTENSION, "valueReference": reference(ordering_facility)}]


def study(
    based_on: Reference | None,
    subject: Reference,
    /,
    uid: str = "1.2.840.113619.2.55.3.1",
    **fields: Any,
) -> dict[str, Any]:
    """A one-series CT study of `subject` based on the order `based_on`; `fields` override
    (None removes)."""
    resource: dict[str, Any] = {
        "resourceType": "ImagingStudy",
        "identifier": [study_uid(uid)],
        "status": "available",
        "subject": reference(subject),
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
    if based_on is not None:
        resource["basedOn"] = [reference(based_on)]
    return _overridden(resource, fields)


async def ordering_setup(client: httpx.AsyncClient) -> tuple[str, str]:
    """A stored patient and facility; their references."""
    stored_patient = await create(client, registered_patient())
    stored_facility = await create(client, facility())
    return f"Patient/{stored_patient['id']}", f"Organization/{stored_facility['id']}"


# -- Bundles (https://hl7.org/fhir/R4/http.html#transaction) ------------------------------


def bundle(bundle_type: str, *bundle_entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": bundle_type, "entry": list(bundle_entries)}


def post_entry(
    resource: dict[str, Any], full_url: str | None = None, **request: str
) -> dict[str, Any]:
    """An entry creating `resource` (known to other entries as `full_url`)."""
    entry: dict[str, Any] = {
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"], **request},
    }
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def put_entry(resource: dict[str, Any], **request: str) -> dict[str, Any]:
    """An entry updating the stored `resource`."""
    url = f"{resource['resourceType']}/{resource['id']}"
    return {"resource": resource, "request": {"method": "PUT", "url": url, **request}}


def request_entry(method: str, url: str, **request: str) -> dict[str, Any]:
    """An entry without a resource (GET, DELETE)."""
    return {"request": {"method": method, "url": url, **request}}

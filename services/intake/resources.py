"""What intake serves: its resource types, search parameters and includes."""

from __future__ import annotations

from services.intake.access import EndpointAccess, OrganizationAccess, PatientAccess
from services.intake.codes import ORDERING_FACILITY_EXTENSION
from services.intake.rules import (
    ImagingStudyRules,
    ServiceRequestRules,
    medical_record_numbers,
    national_provider_ids,
    order_identifiers,
    study_instance_uids,
)
from shared.events.topics import status_becomes, topic
from shared.fhir.registry import (
    Registry,
    ResourceDefinition,
    date,
    reference,
    string,
    token,
)

_SP = "http://hl7.org/fhir/SearchParameter/"


PATIENT = ResourceDefinition(
    type="Patient",
    search_params=(
        token(
            "identifier",
            "identifier",
            description="A patient identifier (e.g. MRN)",
            definition=_SP + "Patient-identifier",
        ),
        string("name", "name", description="Any part of the name", definition=_SP + "Patient-name"),
        string(
            "family", "name.family", description="Family name", definition=_SP + "individual-family"
        ),
        string(
            "given", "name.given", description="Given name", definition=_SP + "individual-given"
        ),
        date(
            "birthdate",
            "birthDate",
            description="Date of birth",
            definition=_SP + "individual-birthdate",
        ),
        token(
            "gender",
            "gender",
            description="Administrative gender",
            definition=_SP + "individual-gender",
        ),
        string(
            "address-state",
            "address.state",
            description="State (USPS code)",
            definition=_SP + "individual-address-state",
        ),
        reference(
            "organization",
            "managingOrganization",
            targets=("Organization",),
            description="The facility that manages the record",
            definition=_SP + "Patient-organization",
        ),
    ),
    revincludes=("ServiceRequest:subject", "ServiceRequest:patient", "ImagingStudy:patient"),
    rules=PatientAccess(),
    unique_keys=medical_record_numbers,
    documentation="Patients of client facilities, as sent by their EHRs. Re-sending a "
    "patient with the same MRN (identifier type MR, same system) returns the stored one.",
)

ORGANIZATION = ResourceDefinition(
    type="Organization",
    search_params=(
        token(
            "identifier",
            "identifier",
            description="Facility identifier (e.g. NPI)",
            definition=_SP + "Organization-identifier",
        ),
        string(
            "name",
            "name",
            "alias",
            description="Name or alias",
            definition=_SP + "Organization-name",
        ),
        string(
            "address-state",
            "address.state",
            description="State (USPS code)",
            definition=_SP + "Organization-address-state",
        ),
        token(
            "type", "type", description="Kind of organization", definition=_SP + "Organization-type"
        ),
        token(
            "active",
            "active",
            description="Whether the record is in use",
            definition=_SP + "Organization-active",
        ),
        reference(
            "partof",
            "partOf",
            targets=("Organization",),
            description="The parent organization",
            definition=_SP + "Organization-partof",
        ),
    ),
    rules=OrganizationAccess(),
    unique_keys=national_provider_ids,
    documentation="Client facilities (hospitals, imaging centres) that order reads. "
    "Re-sending a facility with the same NPI returns the stored one.",
)

SERVICE_REQUEST = ResourceDefinition(
    type="ServiceRequest",
    search_params=(
        token(
            "identifier",
            "identifier",
            description="Accession or placer number",
            definition=_SP + "ServiceRequest-identifier",
        ),
        reference(
            "patient",
            "subject",
            targets=("Patient",),
            description="The patient",
            definition=_SP + "clinical-patient",
        ),
        reference(
            "subject",
            "subject",
            targets=("Patient",),
            description="The patient",
            definition=_SP + "ServiceRequest-subject",
        ),
        token(
            "status", "status", description="Order status", definition=_SP + "ServiceRequest-status"
        ),
        token(
            "intent", "intent", description="Order intent", definition=_SP + "ServiceRequest-intent"
        ),
        token(
            "priority",
            "priority",
            description="routine | urgent | asap | stat",
            definition=_SP + "ServiceRequest-priority",
        ),
        token(
            "code",
            "code",
            description="The exam ordered (e.g. LOINC, CPT)",
            definition=_SP + "clinical-code",
        ),
        token(
            "category",
            "category",
            description="Category of order",
            definition=_SP + "ServiceRequest-category",
        ),
        date(
            "authored",
            "authoredOn",
            description="When the order was signed",
            definition=_SP + "ServiceRequest-authored",
        ),
        date(
            "occurrence",
            "occurrenceDateTime",
            "occurrencePeriod",
            description="When the exam is to happen",
            definition=_SP + "ServiceRequest-occurrence",
        ),
        reference(
            "requester",
            "requester",
            targets=("Organization", "Practitioner", "PractitionerRole"),
            description="Who ordered",
            definition=_SP + "ServiceRequest-requester",
        ),
        reference(
            "performer",
            "performer",
            targets=("Organization", "Practitioner", "PractitionerRole"),
            description="Who is to read",
            definition=_SP + "ServiceRequest-performer",
        ),
        reference(
            "facility",
            "requester",
            f"extension({ORDERING_FACILITY_EXTENSION}).valueReference",
            targets=("Organization",),
            description="The ordering facility",
        ),
    ),
    includes=(
        "ServiceRequest:subject",
        "ServiceRequest:patient",
        "ServiceRequest:requester",
        "ServiceRequest:facility",
    ),
    revincludes=("ImagingStudy:basedon",),
    rules=ServiceRequestRules(),
    unique_keys=order_identifiers,
    documentation="Imaging orders. Re-sending an order with the same accession or placer "
    "number returns the stored order (200) and creates nothing.",
)

IMAGING_STUDY = ResourceDefinition(
    type="ImagingStudy",
    search_params=(
        token(
            "identifier",
            "identifier",
            description="Study instance UID or accession",
            definition=_SP + "ImagingStudy-identifier",
        ),
        reference(
            "basedon",
            "basedOn",
            targets=("ServiceRequest",),
            description="The order",
            definition=_SP + "ImagingStudy-basedon",
        ),
        reference(
            "patient",
            "subject",
            targets=("Patient",),
            description="The patient",
            definition=_SP + "clinical-patient",
        ),
        reference(
            "subject",
            "subject",
            targets=("Patient",),
            description="The patient",
            definition=_SP + "ImagingStudy-subject",
        ),
        token(
            "modality",
            "series.modality",
            description="Modality of a series (DICOM)",
            definition=_SP + "ImagingStudy-modality",
        ),
        date(
            "started",
            "started",
            description="When the study started",
            definition=_SP + "ImagingStudy-started",
        ),
        token(
            "status", "status", description="Study status", definition=_SP + "ImagingStudy-status"
        ),
        reference(
            "endpoint",
            "endpoint",
            "series.endpoint",
            targets=("Endpoint",),
            description="Where the images are",
            definition=_SP + "ImagingStudy-endpoint",
        ),
    ),
    includes=(
        "ImagingStudy:basedon",
        "ImagingStudy:patient",
        "ImagingStudy:subject",
        "ImagingStudy:endpoint",
    ),
    rules=ImagingStudyRules(),
    unique_keys=study_instance_uids,
    documentation="Acquired studies; basedOn must name a known ServiceRequest. Re-sending "
    "a study with the same Study Instance UID returns the stored one.",
)

ENDPOINT = ResourceDefinition(
    type="Endpoint",
    search_params=(
        token(
            "identifier",
            "identifier",
            description="Endpoint identifier",
            definition=_SP + "Endpoint-identifier",
        ),
        string("name", "name", description="Endpoint name", definition=_SP + "Endpoint-name"),
        token(
            "status", "status", description="Endpoint status", definition=_SP + "Endpoint-status"
        ),
        token(
            "connection-type",
            "connectionType",
            description="e.g. dicom-wado-rs",
            definition=_SP + "Endpoint-connection-type",
        ),
        reference(
            "organization",
            "managingOrganization",
            targets=("Organization",),
            description="The facility that runs it",
            definition=_SP + "Endpoint-organization",
        ),
    ),
    rules=EndpointAccess(),
    documentation="DICOMweb locations from which studies are fetched.",
)

TOPICS = (
    topic(
        "order-registered",
        "Imaging order registered",
        "ServiceRequest",
        "create",
        description="A new imaging order was accepted.",
    ),
    topic(
        "order-updated",
        "Imaging order updated",
        "ServiceRequest",
        "update",
        description="An imaging order changed (any element, including status).",
    ),
    topic(
        "order-revoked",
        "Imaging order revoked",
        "ServiceRequest",
        "update",
        description="An imaging order's status became revoked.",
        fires=status_becomes("revoked"),
    ),
    topic(
        "imaging-study-available",
        "Imaging study available",
        "ImagingStudy",
        "create",
        "update",
        description="A study's images became available for reading.",
        fires=status_becomes("available"),
    ),
)

REGISTRY = Registry(
    service="intake",
    definitions=(PATIENT, ORGANIZATION, SERVICE_REQUEST, IMAGING_STUDY, ENDPOINT),
    topics=TOPICS,
)

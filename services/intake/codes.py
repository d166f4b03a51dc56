"""Code systems and extension URLs the intake service relies on."""

from __future__ import annotations

from shared import orders
from shared.fhir.canonical import CANONICAL_BASE

# HL7 v2 table 0203 identifier types: accession (ACSN) and placer order (PLAC) numbers.
IDENTIFIER_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0203"
ORDER_IDENTIFIER_TYPES = frozenset({"ACSN", "PLAC"})
# National Provider Identifier (US): identifies facilities.
NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
# The platform's organization roles: a partner reading group (a vendor reading the
# facilities' studies under contract), beside HL7's organization-type "prov".
ORGANIZATION_ROLE_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/organization-role"
READING_GROUP = "reading-group"
# DICOM UIDs as identifiers (ImagingStudy.identifier for the Study Instance UID).
DICOM_UID_SYSTEM = "urn:dicom:uid"

# The platform's extension for the ordering facility, read by other services too.
ORDERING_FACILITY_EXTENSION = orders.ORDERING_FACILITY_EXTENSION

# USPS state codes, as Plan-Net's whereValid uses them.
STATE_SYSTEM = "https://www.usps.com/"

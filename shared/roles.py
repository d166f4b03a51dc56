"""What each kind of caller may ever do, per resource type, whatever scopes it holds.

SMART scopes are what a client is registered for and asked for; this table is the ceiling
the platform puts over them by role (docs/security.md), so that a mis-registered client
still cannot, say, let a facility's EHR re-assign a read or a radiologist edit an order.
Interactions are SMART v2 letters: c(reate) r(ead) u(pdate) d(elete) s(earch).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

_EVERYTHING = "*"

# What reading a study needs: the order, the patient, the study and where its images are.
_ORDERS_READ = {"Patient": "rs", "ServiceRequest": "rs", "ImagingStudy": "rs", "Endpoint": "rs"}
_READING = {
    "Task": "rsu",  # accept, decline, start, put on hold
    "DiagnosticReport": "crsu",
    "Provenance": "crs",
    "Communication": "crsu",
    "Subscription": "cruds",
}

CEILINGS: MappingProxyType[str, MappingProxyType[str, str]] = MappingProxyType(
    {
        role: MappingProxyType(allowed)
        for role, allowed in {
            "system": {_EVERYTHING: "cruds"},
            "facility": {
                "Organization": "rs",
                "Patient": "cruds",
                "ServiceRequest": "cruds",
                "ImagingStudy": "cruds",
                "Endpoint": "cruds",
                "Task": "rs",  # the status of its orders' reads
                "DiagnosticReport": "rs",
                "Provenance": "rs",
                "Communication": "rsu",  # acknowledging a critical result
                "MeasureReport": "rs",  # its own turnaround compliance (sla's $compliance)
                "Subscription": "cruds",
            },
            "vendor": {
                **_ORDERS_READ,
                **_READING,
                "Organization": "rs",
                "Practitioner": "rs",
                "PractitionerRole": "rs",
                "OrganizationAffiliation": "rs",
            },
            "radiologist": {
                **_ORDERS_READ,
                **_READING,
                "Practitioner": "rs",
                "PractitionerRole": "rs",
            },
            "admin": {
                "Organization": "cruds",
                "Endpoint": "cruds",
                "Practitioner": "cruds",
                "PractitionerRole": "cruds",
                "OrganizationAffiliation": "cruds",
                "Task": "rsu",  # re-route by hand
                "Communication": "rsu",  # acknowledge a critical result escalated to them
                "Subscription": "cruds",
                "AuditEvent": "",  # the audit trail is the auditors' alone
                _EVERYTHING: "rs",
            },
            "auditor": {"AuditEvent": "rs"},
        }.items()
    }
)


def within_ceiling(role: str, resource_type: str, interaction: str) -> bool:
    """Whether `role` may ever perform `interaction` on `resource_type`."""
    allowed: Mapping[str, str] = CEILINGS.get(role, {})
    return interaction in allowed.get(resource_type, allowed.get(_EVERYTHING, ""))

"""The URLs and codes of the roster and contracts in FHIR (docs/assignment.md, "Roster and
contracts in FHIR"): extensions, code systems and the code sets write validation allows.

Parsing (services.assignment.roster), validation (services.assignment.roster_rules), the
demo seed and the docs all take them from here.
"""

from __future__ import annotations

from types import MappingProxyType

from services.assignment.engine.exams import CPT_SYSTEM, DICOM_MODALITY_SYSTEM
from services.assignment.engine.model import PRIORITIES
from shared.fhir.canonical import CANONICAL_BASE
from shared.sla_terms import (
    CLOCK_PART,
    CLOCKS,
    PRIORITY_PART,
    SLA_TARGET_EXTENSION,
    TURNAROUND_PART,
    TURNAROUND_UNITS,
)

__all__ = [
    "CLOCKS",
    "CLOCK_PART",
    "CPT_SYSTEM",
    "DICOM_MODALITY_SYSTEM",
    "PRIORITIES",
    "PRIORITY_PART",
    "SLA_TARGET_EXTENSION",
    "TURNAROUND_PART",
    "TURNAROUND_UNITS",
]

_EXTENSION = f"{CANONICAL_BASE}/StructureDefinition"
_CODE_SYSTEM = f"{CANONICAL_BASE}/CodeSystem"

# -- standard definitions the representation uses --------------------------------------
# FHIR core extension: an IANA time zone (valueCode) for the times of the element.
TIMEZONE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/timezone"
# Da Vinci Plan-Net: a licence (sub-extensions `status` and `whereValid`) on a qualification.
PLAN_NET_QUALIFICATION = (
    "http://hl7.org/fhir/us/davinci-pdex-plan-net/StructureDefinition/practitioner-qualification"
)
PLAN_NET_STATUS = "status"
PLAN_NET_WHERE_VALID = "whereValid"
USPS_SYSTEM = "https://www.usps.com/"
UCUM_SYSTEM = "http://unitsofmeasure.org"

# -- PractitionerRole (membership) -------------------------------------------------------
# A DICOM modality code the radiologist reads (valueCode, 0..*).
READ_MODALITY_EXTENSION = f"{_EXTENSION}/read-modality"
# Caps on the radiologist's work (complex, 0..1): maxOpenTasks valueInteger, maxRvuPerHour
# valueDecimal, each 0..1 and positive.
READING_CAPACITY_EXTENSION = f"{_EXTENSION}/reading-capacity"
MAX_OPEN_TASKS = "maxOpenTasks"
MAX_RVU_PER_HOUR = "maxRvuPerHour"

# PractitionerRole.code: `radiologist` marks a membership role (reads for the reading group
# or vendor in `organization`; the Task owner). Any other role naming an organization is a
# facility privilege; `privileges` says so explicitly.
READING_ROLE_SYSTEM = f"{_CODE_SYSTEM}/reading-role"
RADIOLOGIST = "radiologist"
PRIVILEGES = "privileges"
READING_ROLES = MappingProxyType(
    {
        RADIOLOGIST: "Reads for the organization (reading group or partner vendor)",
        PRIVILEGES: "Holds clinical privileges at the organization (a facility)",
    }
)

# PractitionerRole.specialty: the radiology subspecialties the engine matches on.
SUBSPECIALTY_SYSTEM = f"{_CODE_SYSTEM}/subspecialty"
SUBSPECIALTIES = MappingProxyType(
    {
        "neuro": "Neuroradiology",
        "msk": "Musculoskeletal radiology",
        "body": "Body (abdominal) imaging",
        "chest": "Cardiothoracic (chest) imaging",
        "breast": "Breast imaging",
        "pediatric": "Paediatric radiology",
        "cardiac": "Cardiac imaging",
        "nuclear": "Nuclear medicine",
        "ir": "Interventional radiology",
    }
)

# -- OrganizationAffiliation (contract) --------------------------------------------------
CONTRACT_KIND_SYSTEM = f"{_CODE_SYSTEM}/contract-kind"
PRIMARY = "primary"
OVERFLOW = "overflow"
CONTRACT_KINDS = MappingProxyType(
    {
        PRIMARY: "The facility's reading group reads its studies",
        OVERFLOW: "A partner vendor takes what the reading group cannot read in time",
    }
)
# A DICOM modality code the contract covers (valueCode, 0..*; none: every modality).
COVERED_MODALITY_EXTENSION = f"{_EXTENSION}/covered-modality"
# A request priority the contract covers (valueCode, 0..*; none: every priority).
COVERED_PRIORITY_EXTENSION = f"{_EXTENSION}/covered-priority"
# Weekly hours covered (complex, 0..*; none: around the clock), in the affiliation's zone.
COVERAGE_HOURS_EXTENSION = f"{_EXTENSION}/coverage-hours"
DAYS_OF_WEEK_PART = "daysOfWeek"
START_PART = "start"
END_PART = "end"
# A turnaround target (complex, 0..*): priority valueCode, turnaround valueDuration and an
# optional clock valueCode -- shared.sla_terms (sla reads the same extension).
# An exam only a subspecialist may read (complex, 0..*): exam valueCoding (CPT),
# subspecialty valueCode (SUBSPECIALTY_SYSTEM).
SUBSPECIALIST_EXAM_EXTENSION = f"{_EXTENSION}/subspecialist-exam"
EXAM_PART = "exam"
SUBSPECIALTY_PART = "subspecialty"

# -- code sets ---------------------------------------------------------------------------
# FHIR days-of-week, in the order of datetime.weekday() (0 = Monday).
DAYS_OF_WEEK = MappingProxyType(
    {day: index for index, day in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))}
)
# An SLA target's priority: request-priority codes, and stroke (a stat stroke protocol).
STROKE = "stroke"
SLA_PRIORITIES = (*PRIORITIES, STROKE)
# The radiology acquisition modalities of DICOM CID 29 (a reader reads, a contract covers).
MODALITIES = MappingProxyType(
    {
        "BDUS": "Ultrasound bone densitometry",
        "BMD": "Bone mineral densitometry",
        "CR": "Computed radiography",
        "CT": "Computed tomography",
        "DX": "Digital radiography",
        "IO": "Intra-oral radiography",
        "IVUS": "Intravascular ultrasound",
        "MG": "Mammography",
        "MR": "Magnetic resonance",
        "NM": "Nuclear medicine",
        "PT": "Positron emission tomography",
        "PX": "Panoramic X-ray",
        "RF": "Radiofluoroscopy",
        "RG": "Radiographic imaging (conventional film/screen)",
        "US": "Ultrasound",
        "XA": "X-ray angiography",
    }
)
# USPS codes of the states and territories with medical licensing boards.
_USPS = (
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE "
    "NV NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY AS GU MP PR VI"
)
USPS_STATES = frozenset(_USPS.split())

"""The definitions of assignment's resources: the read Task's identifier and business
statuses, the roster and contract extensions, and the codes they use (docs/fhir.md; the
representation itself is described in docs/assignment.md)."""

from __future__ import annotations

from services.assignment import codes
from services.assignment.decisions import DECISION_SYSTEM
from services.assignment.eligibility import OPERATION as ELIGIBILITY
from services.assignment.engine.model import Constraint
from services.assignment.tasks import BUSINESS_STATUS_SYSTEM, READ_TASK_SYSTEM
from shared.fhir.canonical import CANONICAL_BASE
from shared.fhir.conformance import (
    Binding,
    CodeSystemDefinition,
    Concept,
    Definition,
    ExtensionDefinition,
    NamingSystemDefinition,
    OperationDefinition,
    OperationParameter,
    SubExtension,
    Value,
)
from shared.orders import READ_CONTRACT_EXTENSION

_MODALITIES = Binding(
    "extensible",
    "http://dicom.nema.org/medical/dicom/current/output/chtml/part16/sect_CID_29.html",
    "DICOM acquisition modality (CID 29), e.g. CT, MR, DX, US, MG",
)
_PRIORITIES = Binding("required", "http://hl7.org/fhir/ValueSet/request-priority")
_DAYS = Binding("required", "http://hl7.org/fhir/ValueSet/days-of-week")
_CODE = Value(("code",))

READ_TASK = NamingSystemDefinition(
    value=READ_TASK_SYSTEM,
    title="Read Task",
    description="The read Task of an order: the value is the ServiceRequest's id (one per order).",
    usage="Task.identifier; kept unique, so a redelivered order event finds the Task made.",
)

ASSIGNMENT_STATUS = CodeSystemDefinition(
    url=BUSINESS_STATUS_SYSTEM,
    title="Assignment status",
    description="Where a read Task stands in assignment (Task.businessStatus).",
    concepts=(
        Concept("assigned", "Assigned", "Routed to a reader by the engine (status requested)."),
        Concept(
            "unassigned",
            "Unassigned",
            "Waiting without an owner: nobody eligible now; statusReason says why.",
        ),
        Concept(
            "overflow",
            "Overflow",
            "Sent to a partner vendor whose overflow contract covers it (owner: the vendor).",
        ),
        Concept(
            "re-routed",
            "Re-routed",
            "Routed again (declined, not accepted in time, reader off shift, or retried "
            "from the unassigned queue); the text says why.",
        ),
        Concept("accepted", "Accepted", "The reader accepted it (status accepted)."),
        Concept("reading", "Reading", "The reader started it (status in-progress)."),
        Concept("on-hold", "On hold", "The reader paused it (status on-hold)."),
        Concept(
            "declined",
            "Declined",
            "The reader declined it with a reason (status rejected); the service re-routes it.",
        ),
        Concept(
            "reported", "Reported", "The final report came (Task completed, output the report)."
        ),
        Concept(
            "order-revoked",
            "Order revoked",
            "The order was revoked before the read was over (Task cancelled).",
        ),
    ),
)

# -- roster: the reader's membership PractitionerRole -------------------------------------

READ_MODALITY = ExtensionDefinition(
    url=f"{CANONICAL_BASE}/StructureDefinition/read-modality",
    title="Modality read",
    description="A DICOM modality the radiologist reads for this reading group (one per modality).",
    contexts=("PractitionerRole",),
    value=Value(("code",), binding=_MODALITIES),
    max="*",
)

READING_CAPACITY = ExtensionDefinition(
    url=f"{CANONICAL_BASE}/StructureDefinition/reading-capacity",
    title="Reading capacity",
    description=(
        "The radiologist's caps: open Tasks at once and work RVUs per hour. STAT and stroke "
        "reads may exceed them; absent parts are not capped."
    ),
    contexts=("PractitionerRole",),
    parts=(
        SubExtension("maxOpenTasks", "Most open Tasks at once", Value(("integer",))),
        SubExtension("maxRvuPerHour", "Most work RVUs per hour", Value(("decimal",))),
    ),
)

SUBSPECIALTY = CodeSystemDefinition(
    url=f"{CANONICAL_BASE}/CodeSystem/subspecialty",
    title="Radiology subspecialty",
    description=(
        "A radiologist's subspecialty (PractitionerRole.specialty) and the subspecialty an "
        "exam asks for (subspecialist-exam)."
    ),
    concepts=(
        Concept("neuro", "Neuroradiology", "Brain, head and neck, spine."),
        Concept("msk", "Musculoskeletal", "Bones, joints and soft tissue."),
        Concept("body", "Body imaging", "Abdomen and pelvis."),
        Concept("chest", "Thoracic imaging", "Chest and lungs."),
        Concept("breast", "Breast imaging", "Mammography, breast ultrasound and MRI."),
        Concept("pediatric", "Pediatric radiology", "Imaging of children."),
        Concept("cardiac", "Cardiac imaging", "Heart and great vessels (CT, MRI)."),
        Concept("nuclear", "Nuclear medicine", "Nuclear medicine and PET."),
        Concept("ir", "Interventional radiology", "Image-guided procedures."),
    ),
)

# -- contracts: OrganizationAffiliation ---------------------------------------------------

CONTRACT_KIND = CodeSystemDefinition(
    url=f"{CANONICAL_BASE}/CodeSystem/contract-kind",
    title="Contract kind",
    description="What a contract between a facility and a reading organization is for (OrganizationAffiliation.code).",
    concepts=(
        Concept("primary", "Primary", "A reading group reads the facility's studies."),
        Concept(
            "overflow",
            "Overflow",
            "A partner vendor takes the orders nobody in the primary groups is eligible for.",
        ),
    ),
)

COVERED_MODALITY = ExtensionDefinition(
    url=f"{CANONICAL_BASE}/StructureDefinition/covered-modality",
    title="Covered modality",
    description="A DICOM modality the contract covers; without any, every modality.",
    contexts=("OrganizationAffiliation",),
    value=Value(("code",), binding=_MODALITIES),
    max="*",
)

COVERED_PRIORITY = ExtensionDefinition(
    url=f"{CANONICAL_BASE}/StructureDefinition/covered-priority",
    title="Covered priority",
    description="An order priority the contract covers; without any, every priority.",
    contexts=("OrganizationAffiliation",),
    value=Value(("code",), binding=_PRIORITIES),
    max="*",
)

COVERAGE_HOURS = ExtensionDefinition(
    url=f"{CANONICAL_BASE}/StructureDefinition/coverage-hours",
    title="Coverage hours",
    description=(
        "Weekly hours the contract covers, wall clock in the zone of the affiliation's "
        "timezone extension; an end at or before the start runs past midnight. Without "
        "any, around the clock."
    ),
    contexts=("OrganizationAffiliation",),
    parts=(
        SubExtension("daysOfWeek", "Days covered", Value(("code",), binding=_DAYS), max="*"),
        SubExtension("start", "Start time", Value(("time",)), min=1),
        SubExtension("end", "End time", Value(("time",)), min=1),
    ),
    max="*",
)

SLA_TARGET = ExtensionDefinition(
    url=f"{CANONICAL_BASE}/StructureDefinition/sla-target",
    title="SLA target",
    description=(
        "The turnaround the contract promises for one priority (or stroke): the read "
        "Task's deadline is the order's registration plus it."
    ),
    contexts=("OrganizationAffiliation",),
    parts=(
        SubExtension(
            "priority",
            "Order priority, or stroke",
            Value(
                ("code",),
                binding=Binding(
                    "extensible",
                    "http://hl7.org/fhir/ValueSet/request-priority",
                    "A request priority, or stroke for a stroke protocol order",
                ),
            ),
            min=1,
        ),
        SubExtension("turnaround", "Turnaround (UCUM min)", Value(("Duration",)), min=1),
    ),
    max="*",
)

READ_CONTRACT = ExtensionDefinition(
    url=READ_CONTRACT_EXTENSION,
    title="Read contract",
    description=(
        "On the read Task: the contract (OrganizationAffiliation) the read runs under, as "
        "routing chose it; sla counts the contract's clock and target for it. Absent while "
        "the read waits unassigned."
    ),
    contexts=("Task",),
    value=Value(("Reference",), targets=("OrganizationAffiliation",)),
)

SUBSPECIALIST_EXAM = ExtensionDefinition(
    url=f"{CANONICAL_BASE}/StructureDefinition/subspecialist-exam",
    title="Subspecialist exam",
    description=(
        "An exam code that the contract has read only by a radiologist of the given "
        "subspecialty (a code of the subspecialty code system)."
    ),
    contexts=("OrganizationAffiliation",),
    parts=(
        SubExtension("exam", "Exam code (CPT)", Value(("Coding",)), min=1),
        SubExtension("subspecialty", "Subspecialty required", _CODE, min=1),
    ),
    max="*",
)

# -- eligibility: the hard constraints an $eligibility answer names ----------------------

_CONSTRAINTS = {
    Constraint.ACTIVE: ("Active", "The reader's role is in force (active, within its period)."),
    Constraint.LICENCE: (
        "Licence",
        "An active licence in the patient's state on the read date.",
    ),
    Constraint.PRIVILEGES: ("Privileges", "Active privileges at the ordering facility."),
    Constraint.CONTRACT: (
        "Contract",
        "An active contract of the reader's group covers the exam (facility, modality, "
        "priority, hours).",
    ),
    Constraint.MODALITY: ("Modality", "The reader reads the exam's modality."),
    Constraint.SUBSPECIALTY: (
        "Subspecialty",
        "The reader has the subspecialty the contract asks for this exam.",
    ),
    Constraint.SHIFT: (
        "Shift",
        "On shift now, in the reader's own time zone, and not unavailable.",
    ),
    Constraint.CONFLICT: (
        "Conflict",
        "No conflict: e.g. a second read goes to another radiologist; not one who declined.",
    ),
    Constraint.CAPACITY: (
        "Capacity",
        "Open Tasks and RVUs per hour within the reader's caps (STAT and stroke may exceed).",
    ),
}
ASSIGNMENT_CONSTRAINT = CodeSystemDefinition(
    url=f"{CANONICAL_BASE}/CodeSystem/assignment-constraint",
    title="Assignment constraint",
    description="A hard constraint of assignment, in the order checked: what a candidate failed.",
    concepts=tuple(Concept(c.value, *_CONSTRAINTS[c]) for c in Constraint),
)

READING_ROLE = CodeSystemDefinition(
    url=codes.READING_ROLE_SYSTEM,
    title="Reading role",
    description="What a PractitionerRole is to assignment (PractitionerRole.code): a "
    "membership, reading for a reading group or vendor, or privileges at a facility.",
    concepts=tuple(
        Concept(code, code.capitalize(), meaning) for code, meaning in codes.READING_ROLES.items()
    ),
)

ASSIGNMENT_EVENT = CodeSystemDefinition(
    url=DECISION_SYSTEM,
    title="Assignment event",
    description="The AuditEvent recording a routing decision: type `decision`, subtype "
    "the outcome (docs/assignment.md).",
    concepts=(
        Concept("decision", "Assignment decision", "The engine routed a read (AuditEvent.type)."),
        Concept("assigned", "Assigned", "To a reader, the first time."),
        Concept("re-routed", "Re-routed", "To a reader, again."),
        Concept("overflow", "Overflow", "To a partner vendor."),
        Concept("unassigned", "Unassigned", "To nobody: the read waits, with the reason."),
    ),
)


def _out(
    name: str, type_: str, documentation: str, *, min_: int = 0, max_: str = "1"
) -> OperationParameter:
    return OperationParameter(name, "out", documentation, type=type_, min=min_, max=max_)


_SCORE = (
    _out("predicted-completion", "instant", "When this reader would finish the read"),
    _out("total", "decimal", "The score (lower is better)"),
    OperationParameter(
        "term",
        "out",
        "Each term of the score",
        max="*",
        parts=(
            _out("name", "code", "The term", min_=1),
            _out("value", "decimal", "Its value", min_=1),
        ),
    ),
)

ELIGIBILITY_OPERATION = OperationDefinition(
    url=ELIGIBILITY.definition,
    title="Eligibility of an order",
    description="Every reader of the roster for one order as it stands now, eligible or "
    "not, with each failed hard constraint, the score of the eligible, and what the engine "
    "would decide. Changes nothing. Operations, the platform and the ordering facility.",
    code=ELIGIBILITY.name,
    system=True,
    parameters=(
        OperationParameter(
            "order", "in", "The order, as ServiceRequest/<id>", type="string", min=1
        ),
        _out("order", "Reference", "The order (ServiceRequest)", min_=1),
        _out("deadline", "instant", "The deadline it is judged against", min_=1),
        _out("outcome", "code", "assigned | overflow | unassigned", min_=1),
        _out("reason", "string", "Why", min_=1),
        OperationParameter(
            "chosen",
            "out",
            "The reader (or vendor) the engine would pick",
            parts=(
                _out("reader", "Reference", "The PractitionerRole"),
                _out("vendor", "Reference", "The vendor Organization (overflow)"),
                _out("contract", "Reference", "The covering OrganizationAffiliation"),
                *_SCORE,
            ),
        ),
        OperationParameter(
            "candidate",
            "out",
            "One per reader of the roster",
            max="*",
            parts=(
                _out("reader", "Reference", "The PractitionerRole", min_=1),
                _out("eligible", "boolean", "Whether every hard constraint holds", min_=1),
                OperationParameter(
                    "failure",
                    "out",
                    "A failed hard constraint",
                    max="*",
                    parts=(
                        _out("constraint", "Coding", "assignment-constraint code", min_=1),
                        _out("detail", "string", "Why, in words", min_=1),
                    ),
                ),
                *_SCORE,
            ),
        ),
    ),
)

DEFINITIONS: tuple[Definition, ...] = (
    READ_TASK,
    ASSIGNMENT_STATUS,
    READ_MODALITY,
    READING_CAPACITY,
    SUBSPECIALTY,
    CONTRACT_KIND,
    COVERED_MODALITY,
    COVERED_PRIORITY,
    COVERAGE_HOURS,
    SLA_TARGET,
    READ_CONTRACT,
    SUBSPECIALIST_EXAM,
    ASSIGNMENT_CONSTRAINT,
    ASSIGNMENT_EVENT,
    ELIGIBILITY_OPERATION,
    READING_ROLE,
)

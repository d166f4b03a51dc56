"""What sla serves (generic REST for now; timelines and breach prediction come later)."""

from __future__ import annotations

from shared.fhir.registry import Registry, ResourceDefinition, date, reference, token

_SP = "http://hl7.org/fhir/SearchParameter/"

REGISTRY = Registry(
    service="sla",
    definitions=(
        ResourceDefinition(
            type="MeasureReport",
            search_params=(
                token(
                    "identifier",
                    "identifier",
                    description="Report identifier",
                    definition=_SP + "MeasureReport-identifier",
                ),
                token(
                    "status",
                    "status",
                    description="complete | pending | error",
                    definition=_SP + "MeasureReport-status",
                ),
                reference(
                    "subject",
                    "subject",
                    targets=(),
                    description="What was measured",
                    definition=_SP + "MeasureReport-subject",
                ),
                date(
                    "period",
                    "period",
                    description="The period measured",
                    definition=_SP + "MeasureReport-period",
                ),
            ),
            documentation="Turnaround compliance reports.",
        ),
    ),
)

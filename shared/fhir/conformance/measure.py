"""A measure declaration as a FHIR R4 Measure.

https://hl7.org/fhir/R4/measure.html: the scoring, one group whose populations say in
words what each counts (`criteria` is an Expression; the platform computes the numbers in
code, so the language is `text/plain`), and the stratifiers a MeasureReport may carry.
"""

from __future__ import annotations

from typing import Any

from shared.fhir.conformance.model import MeasureDefinition
from shared.fhir.conformance.structure_definition import PUBLISHER

_TERMINOLOGY = "http://terminology.hl7.org/CodeSystem"
MEASURE_POPULATION = f"{_TERMINOLOGY}/measure-population"


def _coded(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": system, "code": code} | ({"display": display} if display else {})
    return {"coding": [coding]}


def measure(definition: MeasureDefinition, *, version: str, date: str) -> dict[str, Any]:
    """The Measure of `definition`, as version `version` published on `date`."""
    return {
        "resourceType": "Measure",
        "id": definition.id,
        "url": definition.url,
        "version": version,
        "name": definition.name,
        "title": definition.title,
        "status": "active",
        "date": date,
        "publisher": PUBLISHER,
        "description": definition.description,
        "scoring": _coded(f"{_TERMINOLOGY}/measure-scoring", definition.scoring),
        "improvementNotation": _coded(
            f"{_TERMINOLOGY}/measure-improvement-notation", definition.improvement
        ),
        "group": [
            {
                "population": [
                    {
                        "code": _coded(MEASURE_POPULATION, p.code, p.display),
                        "description": p.definition,
                        "criteria": {"language": "text/plain", "expression": p.definition},
                    }
                    for p in definition.populations
                ],
                "stratifier": [
                    {
                        "code": _coded(definition.stratifier_system, s.code, s.display),
                        "description": s.definition,
                    }
                    for s in definition.stratifiers
                ],
            }
        ],
    }

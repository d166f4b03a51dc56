"""The platform's own definitions as FHIR conformance resources.

Declare an extension, code system, identifier system, operation or measure once (model.py); the
builders turn it into a StructureDefinition, CodeSystem, NamingSystem or
OperationDefinition, and the catalogue serves them (read and search) at the front door.
"""

from shared.fhir.conformance.capability import definition_resources
from shared.fhir.conformance.catalogue import Catalogue, conformance_resource
from shared.fhir.conformance.model import (
    DEFINITION_TYPES,
    Binding,
    CodeSystemDefinition,
    Concept,
    Definition,
    ExtensionDefinition,
    MeasureDefinition,
    NamingSystemDefinition,
    OperationDefinition,
    OperationParameter,
    SubExtension,
    Value,
)

__all__ = [
    "DEFINITION_TYPES",
    "Binding",
    "Catalogue",
    "CodeSystemDefinition",
    "Concept",
    "Definition",
    "ExtensionDefinition",
    "MeasureDefinition",
    "NamingSystemDefinition",
    "OperationDefinition",
    "OperationParameter",
    "SubExtension",
    "Value",
    "conformance_resource",
    "definition_resources",
]

"""An extension declaration as a FHIR R4 StructureDefinition (a constraint on Extension).

https://hl7.org/fhir/R4/extensibility.html#Extension and
https://hl7.org/fhir/R4/defining-extensions.html: kind `complex-type`, type `Extension`,
derivation `constraint` from the base Extension, the elements it may appear on as
`context`, and a differential that fixes `Extension.url` and types `value[x]` -- or, for a
complex extension, slices `Extension.extension` by url, one slice per sub-extension, and
forbids `value[x]`.
"""

from __future__ import annotations

from typing import Any

from shared.fhir.conformance.model import ExtensionDefinition, SubExtension, Value

FHIR_VERSION = "4.0.1"
PUBLISHER = "Teleradiology platform"
CORE = "http://hl7.org/fhir/StructureDefinition"
EXTENSION_BASE = f"{CORE}/Extension"

Element = dict[str, Any]


def _types(value: Value) -> list[dict[str, Any]]:
    types: list[dict[str, Any]] = []
    for code in value.types:
        entry: dict[str, Any] = {"code": code}
        if code == "Reference" and value.targets:
            entry["targetProfile"] = [f"{CORE}/{target}" for target in value.targets]
        types.append(entry)
    return types


def _value_element(element_id: str, path: str, value: Value) -> Element:
    element: Element = {"id": element_id, "path": path, "min": 1, "type": _types(value)}
    if value.binding is not None:
        binding = value.binding
        element["binding"] = {"strength": binding.strength, "valueSet": binding.value_set}
        if binding.description:
            element["binding"]["description"] = binding.description
    return element


def _slice(part: SubExtension) -> list[Element]:
    """The elements of one sub-extension: a slice of Extension.extension by its url."""
    at = f"Extension.extension:{part.url}"
    return [
        {
            "id": at,
            "path": "Extension.extension",
            "sliceName": part.url,
            "short": part.short,
            "definition": part.short,
            "min": part.min,
            "max": part.max,
        },
        {"id": f"{at}.extension", "path": "Extension.extension.extension", "max": "0"},
        {"id": f"{at}.url", "path": "Extension.extension.url", "fixedUri": part.url},
        _value_element(f"{at}.value[x]", "Extension.extension.value[x]", part.value),
    ]


def _differential(extension: ExtensionDefinition) -> list[Element]:
    root: Element = {
        "id": "Extension",
        "path": "Extension",
        "short": extension.title,
        "definition": extension.description,
        "min": extension.min,
        "max": extension.max,
    }
    url: Element = {"id": "Extension.url", "path": "Extension.url", "fixedUri": extension.url}
    if extension.value is not None:
        return [
            root,
            {"id": "Extension.extension", "path": "Extension.extension", "max": "0"},
            url,
            _value_element("Extension.value[x]", "Extension.value[x]", extension.value),
        ]
    slicing: Element = {
        "id": "Extension.extension",
        "path": "Extension.extension",
        "slicing": {"discriminator": [{"type": "value", "path": "url"}], "rules": "open"},
        "min": sum(1 for part in extension.parts if part.min > 0),
    }
    parts = [element for part in extension.parts for element in _slice(part)]
    no_value: Element = {"id": "Extension.value[x]", "path": "Extension.value[x]", "max": "0"}
    return [root, slicing, *parts, url, no_value]


def structure_definition(extension: ExtensionDefinition, *, version: str, date: str) -> Element:
    """The StructureDefinition of `extension`, as version `version` published on `date`."""
    return {
        "resourceType": "StructureDefinition",
        "id": extension.id,
        "url": extension.url,
        "version": version,
        "name": extension.name,
        "title": extension.title,
        "status": "active",
        "date": date,
        "publisher": PUBLISHER,
        "description": extension.description,
        "fhirVersion": FHIR_VERSION,
        "kind": "complex-type",
        "abstract": False,
        "context": [{"type": "element", "expression": path} for path in extension.contexts],
        "type": "Extension",
        "baseDefinition": EXTENSION_BASE,
        "derivation": "constraint",
        "differential": {"element": _differential(extension)},
    }

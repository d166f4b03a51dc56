"""The definitions of reporting's resources: the codes, extensions and operations of
reports, signatures and critical results (docs/fhir.md; the representation itself is
described in docs/reporting.md)."""

from __future__ import annotations

from shared.fhir.conformance import Definition

DEFINITIONS: tuple[Definition, ...] = ()

"""The canonical base of everything the platform defines: extensions, topics, code systems.

Each definition is declared in a `conformance.py` (see shared/fhir/conformance), served by
the front door and listed in docs/fhir.md; the suite fails on one that is not.
"""

CANONICAL_BASE = "https://teleradiology.example.org/fhir"

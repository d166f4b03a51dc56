"""The canonical base of everything the platform defines: extensions, topics, code systems.

Each definition is listed in docs/fhir.md.
"""

CANONICAL_BASE = "https://teleradiology.example.org/fhir"

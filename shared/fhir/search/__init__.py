"""FHIR search: parsing, one module per index kind, and SQL assembly."""

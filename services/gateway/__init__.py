"""Gateway: the one FHIR base URL in front of intake, assignment, reporting and sla."""

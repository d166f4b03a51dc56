"""Versioned FHIR resource storage with extracted search indexes."""

"""The one library every service stands on: FHIR core, storage, auth, telemetry, settings."""

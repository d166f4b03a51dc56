"""Reporting: DiagnosticReport, Provenance (signatures) and Communication (critical results)."""

"""Intake: orders in -- Patient, Organization (facilities), ServiceRequest, ImagingStudy, Endpoint."""

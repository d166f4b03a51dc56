"""The platform's services: intake, assignment, reporting and sla."""

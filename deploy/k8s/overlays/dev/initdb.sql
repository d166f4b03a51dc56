-- Run once by the dev PostgreSQL on an empty volume (deploy/k8s/overlays/dev/postgres.yaml).
-- Same databases as deploy/compose/initdb.sql (kept identical; checked by the tests).
-- One database per service; each service owns its schema (Alembic) in its database.
-- The role is POSTGRES_USER from postgres.yaml.
CREATE DATABASE intake OWNER fhir;
CREATE DATABASE assignment OWNER fhir;
CREATE DATABASE reporting OWNER fhir;
CREATE DATABASE sla OWNER fhir;
-- The audit log the services share (AuditEvents; append-only, see docs/security.md).
CREATE DATABASE audit OWNER fhir;

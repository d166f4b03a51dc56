-- Run once by the postgres image on an empty data volume
-- (mounted into /docker-entrypoint-initdb.d/ by docker-compose.yml).
-- One database per service; each service owns its schema (Alembic) in its database.
-- The role is POSTGRES_USER from docker-compose.yml.
CREATE DATABASE intake OWNER fhir;
CREATE DATABASE assignment OWNER fhir;
CREATE DATABASE reporting OWNER fhir;
CREATE DATABASE sla OWNER fhir;
-- The audit log the services share (AuditEvents; append-only, see docs/security.md).
CREATE DATABASE audit OWNER fhir;

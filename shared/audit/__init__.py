"""The audit of every access (IHE BALP AuditEvents), kept in an append-only database the
services share. See docs/security.md, "Audit".

- `trail`: what a request touched, noted by the endpoints (`request.state.audit`);
- `balp`: the AuditEvent of one interaction;
- `log`: the audit database and the two moments a request's events are written;
- `middleware`: the request edge (fail closed: no AuditEvent, no answer);
- `resource`: AuditEvent as served to auditors (read and search, from the sla service).
"""

"""reporting's own table (beside the shared FHIR store): the radiologists' signing keys.

One row per key: the signer it belongs to (`Practitioner/<id>`), its `kid` (the RFC 7638
thumbprint of the public key), the public key as a JWK (published, see signing.py) and
the private key as PKCS#8 PEM encrypted with REPORT_SIGNING_KEY_SECRET. A key is made on a
radiologist's first signature, in the transaction of that signature; keys are never
deleted, so that every signature made stays verifiable.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, MetaData, String, Table, Text

from shared.fhir.storage.tables import NAMING_CONVENTION, UTCDateTime

reporting_metadata = MetaData(naming_convention=NAMING_CONVENTION)

signing_key = Table(
    "signing_key",
    reporting_metadata,
    Column("kid", String(64), primary_key=True),
    Column("signer", String(128), nullable=False),
    Column("algorithm", String(16), nullable=False),
    Column("public_jwk", Text, nullable=False),
    Column("private_key", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_signing_key_signer", "signer"),
)

"""The radiologists' signing keys (table `signing_key`, see tables.py).

Each signer (`Practitioner/<id>`) gets an ES256 (P-256) key pair on their first signature,
made in the transaction of that signature. The private half is stored as PKCS#8 PEM
encrypted with REPORT_SIGNING_KEY_SECRET (`BestAvailableEncryption`: AES-256-CBC under a
scrypt/PBKDF2-derived key), so a copy of the database alone signs nothing. The public half
is kept as a JWK whose `kid` is its RFC 7638 thumbprint, and published (signing.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.tables import signing_key
from shared.fhir.outcomes import internal_error
from shared.fhir.service import now_utc
from shared.smart.keys import thumbprint

ALGORITHM = "ES256"
log = logging.getLogger("teleradiology.reporting")


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A signer's public key as published."""

    kid: str
    signer: str
    jwk: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PrivateKey:
    """A signer's key, ready to sign."""

    kid: str
    signer: str
    jwk: dict[str, Any]
    key: ec.EllipticCurvePrivateKey


async def signing_key_of(session: AsyncSession, signer: str, *, secret: str) -> PrivateKey:
    """`signer`'s newest key, made now when they have none."""
    statement = (
        select(signing_key)
        .where(signing_key.c.signer == signer)
        .order_by(signing_key.c.created_at.desc(), signing_key.c.kid)
        .limit(1)
    )
    row = (await session.execute(statement)).first()
    if row is None:
        return await _new_key(session, signer, secret=secret)
    try:
        private = serialization.load_pem_private_key(row.private_key.encode(), secret.encode())
    except ValueError:
        # Not the secret the key was stored with: nothing can be signed until it is back.
        log.error("signing key cannot be opened", extra={"kid": row.kid})
        raise internal_error() from None
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    return PrivateKey(row.kid, row.signer, orjson.loads(row.public_jwk), private)


async def _new_key(session: AsyncSession, signer: str, *, secret: str) -> PrivateKey:
    private = ec.generate_private_key(ec.SECP256R1())
    public = ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
    kid = thumbprint(public)
    jwk = {**public, "kid": kid, "alg": ALGORITHM, "use": "sig"}
    encrypted = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(secret.encode()),
    )
    await session.execute(
        insert(signing_key).values(
            kid=kid,
            signer=signer,
            algorithm=ALGORITHM,
            public_jwk=orjson.dumps(jwk).decode(),
            private_key=encrypted.decode(),
            created_at=now_utc(),
        )
    )
    return PrivateKey(kid, signer, jwk, private)


async def public_key(session: AsyncSession, kid: str) -> PublicKey | None:
    """The published key `kid`; None when no such key was ever made here."""
    row = (await session.execute(select(signing_key).where(signing_key.c.kid == kid))).first()
    return PublicKey(row.kid, row.signer, orjson.loads(row.public_jwk)) if row else None


async def published_keys(session: AsyncSession) -> list[PublicKey]:
    """Every key ever made (none is withdrawn: old signatures stay verifiable)."""
    statement = select(signing_key).order_by(signing_key.c.signer, signing_key.c.created_at)
    return [
        PublicKey(row.kid, row.signer, orjson.loads(row.public_jwk))
        for row in (await session.execute(statement)).all()
    ]

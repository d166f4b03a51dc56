"""The client's side of SMART Backend Services authentication: the assertion it signs.

Used by the development token script (`make token`) and the tests; the server's checks
of it are in assertions.py. Light on imports, so that a command-line client starts fast.
"""

from __future__ import annotations

import uuid

from shared.smart.keys import SigningKey

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def sign_client_assertion(
    key: SigningKey, client_id: str, token_url: str, *, now: float, lifetime_seconds: int = 120
) -> str:
    """A client's assertion for the token endpoint at `token_url`, signed with `key`."""
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "exp": int(now) + lifetime_seconds,
        "iat": int(now),
        "jti": uuid.uuid4().hex,
    }
    return key.sign(claims)

"""JSON Web Keys: the platform's signing key, public key sets (JWKS) and their key ids.

Every signature is made and checked by PyJWT (on `cryptography`); this module only decides
which key and algorithm apply, and refuses any mismatch: an algorithm is accepted only with
the kind of key it is defined for (RS* with RSA, ES256 with P-256, ES384 with P-384), so a
public key can never serve as an HMAC secret and `none` is never an algorithm at all.
A key without a `kid` is known by its RFC 7638 thumbprint.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

# Algorithm -> the key type (and curve) it is defined for.
ALGORITHM_KEYS: dict[str, tuple[str, str | None]] = {
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
}
# What the platform signs its access tokens with, and what clients sign assertions with.
PLATFORM_ALGORITHMS = frozenset({"RS384", "ES384"})
MIN_RSA_BITS = 2048
_THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y")}
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


class KeyRejected(ValueError):
    """A key, or a key for this algorithm, that is not acceptable."""


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public RSA or EC key."""
    members = _THUMBPRINT_MEMBERS.get(str(jwk.get("kty")))
    if members is None or any(not isinstance(jwk.get(m), str) for m in members):
        raise KeyRejected("only RSA and EC keys with all their public members are accepted")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def verification_key(jwk: Mapping[str, Any], algorithm: str) -> Any:
    """The public key of `jwk` for checking an `algorithm` signature; KeyRejected when the
    key is not of the kind the algorithm is defined for."""
    if algorithm not in ALGORITHM_KEYS:
        raise KeyRejected(f"the algorithm {algorithm!r} is not accepted")
    kty, crv = ALGORITHM_KEYS[algorithm]
    if jwk.get("kty") != kty or (crv is not None and jwk.get("crv") != crv):
        raise KeyRejected(f"{algorithm} does not match the registered key's type")
    if jwk.get("alg") not in (None, algorithm):
        raise KeyRejected(f"the registered key is for {jwk.get('alg')}, not {algorithm}")
    try:
        key = jwt.PyJWK(dict(jwk), algorithm=algorithm).key
    except jwt.PyJWTError as error:
        raise KeyRejected(f"the registered key is malformed ({type(error).__name__})") from None
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise KeyRejected(f"RSA keys need at least {MIN_RSA_BITS} bits")
    return key


def _public_member(jwk: Any) -> dict[str, Any]:
    if not isinstance(jwk, dict):
        raise KeyRejected("each key of a JWKS must be a JSON object")
    if _PRIVATE_MEMBERS & set(jwk):
        raise KeyRejected("a public key set must not hold private or symmetric keys")
    if jwk.get("use") not in (None, "sig"):
        raise KeyRejected("a key for encryption cannot check signatures")
    kid = jwk.get("kid") or thumbprint(jwk)
    return {**jwk, "kid": str(kid)}


@dataclass(frozen=True)
class KeySet:
    """Public keys by key id, as a JWKS holds them; parsed keys are cached."""

    keys: Mapping[str, dict[str, Any]]
    algorithms: frozenset[str]
    _parsed: dict[tuple[str, str], Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def parse(cls, jwks: Any, *, algorithms: Iterable[str]) -> KeySet:
        """The key set of a JWKS document ({"keys": [...]}); ValueError when malformed."""
        if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
            raise KeyRejected('a JWKS is a JSON object {"keys": [...]}')
        allowed = frozenset(algorithms)
        keys: dict[str, dict[str, Any]] = {}
        for member in jwks["keys"]:
            jwk = _public_member(member)
            if jwk.get("alg") not in (None, *allowed):
                raise KeyRejected(f"key {jwk['kid']}: algorithm {jwk['alg']} is not accepted")
            if jwk["kid"] in keys:
                raise KeyRejected(f"key id {jwk['kid']} appears twice")
            keys[jwk["kid"]] = jwk
        return cls(keys=keys, algorithms=allowed)

    def key(self, kid: str, algorithm: str) -> Any:
        """The public key `kid` for an `algorithm` signature; KeyRejected when there is no
        such key, or the algorithm is not accepted or does not fit it."""
        if algorithm not in self.algorithms:
            raise KeyRejected(f"the algorithm {algorithm!r} is not accepted")
        cached = self._parsed.get((kid, algorithm))
        if cached is None:
            jwk = self.keys.get(kid)
            if jwk is None:
                raise KeyRejected("no registered key has this kid")
            cached = self._parsed[(kid, algorithm)] = verification_key(jwk, algorithm)
        return cached

    def thumbprints(self) -> frozenset[str]:
        """The thumbprints of every key (whatever their `kid`)."""
        return frozenset(thumbprint(jwk) for jwk in self.keys.values())

    def public(self) -> dict[str, Any]:
        """The set as a JWKS document."""
        return {"keys": list(self.keys.values())}


@dataclass(frozen=True)
class SigningKey:
    """A private key and how it signs: ES384 for P-384, RS384 for RSA; `kid` its thumbprint."""

    private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    algorithm: str
    kid: str
    public_jwk: dict[str, Any]

    @classmethod
    def from_pem(cls, pem: str | bytes) -> SigningKey:
        """The signing key of a PEM private key (unencrypted); KeyRejected otherwise."""
        data = pem.encode() if isinstance(pem, str) else pem
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            raise KeyRejected("not an unencrypted PEM private key") from None
        public: dict[str, Any]
        if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP384R1):
            algorithm = "ES384"
            public = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
        elif isinstance(key, rsa.RSAPrivateKey) and key.key_size >= MIN_RSA_BITS:
            algorithm = "RS384"
            public = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        else:
            raise KeyRejected(f"use an EC P-384 key or an RSA key of {MIN_RSA_BITS} bits or more")
        kid = thumbprint(public)
        public_jwk = {**public, "kid": kid, "alg": algorithm, "use": "sig"}
        return cls(private_key=key, algorithm=algorithm, kid=kid, public_jwk=public_jwk)

    def sign(self, claims: Mapping[str, Any]) -> str:
        """A JWT of `claims`, signed, naming this key's `kid`."""
        return jwt.encode(
            dict(claims), self.private_key, algorithm=self.algorithm, headers={"kid": self.kid}
        )

    def jwks(self) -> dict[str, Any]:
        """The JWKS of this key's public half."""
        return {"keys": [self.public_jwk]}

"""Print the public JWKS of a PEM private key: the AUTH_VERIFY_JWKS of a platform signing
key, or the `jwks` of a client registration (docs/authentication.md).

    python scripts/auth_jwks.py platform-key.pem            # or the PEM on stdin
    python scripts/auth_jwks.py new.pem old-public.json     # a rotation: the new key first

Further arguments are JWKS files whose keys are kept after the new one's (a rotation keeps
the old public key until every token it signed has expired). The key id of each key is its
RFC 7638 thumbprint.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared.smart.keys import PLATFORM_ALGORITHMS, KeyRejected, KeySet, SigningKey  # noqa: E402


def public_jwks(pem: str, kept: list[str]) -> dict[str, object]:
    """The JWKS of `pem`'s public key followed by the keys of the `kept` JWKS documents."""
    keys = [SigningKey.from_pem(pem).public_jwk]
    for document in kept:
        for jwk in KeySet.parse(json.loads(document), algorithms=PLATFORM_ALGORITHMS).keys.values():
            if jwk["kid"] not in {k["kid"] for k in keys}:
                keys.append(jwk)
    return {"keys": keys}


def main(argv: list[str]) -> int:
    pem = Path(argv[0]).read_text() if argv else sys.stdin.read()
    try:
        jwks = public_jwks(pem, [Path(path).read_text() for path in argv[1:]])
    except (KeyRejected, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(jwks, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

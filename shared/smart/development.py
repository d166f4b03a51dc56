"""The committed development-only keys (deploy/dev/auth/), used when nothing is configured in
development and refused everywhere else.

Their private halves are in git, so anyone can sign with them: outside development the
settings refuse the platform key (AUTH_SIGNING_KEY, AUTH_VERIFY_JWKS) and the client
registry refuses a client registered with one of the development clients' keys. They are
recognised by thumbprint, so a copy pasted into a secret store is refused too
(tests/shared/smart/test_development_keys.py keeps this list in step with the files).
"""

from __future__ import annotations

from pathlib import Path

DEV_AUTH_DIR = Path(__file__).resolve().parents[2] / "deploy" / "dev" / "auth"
DEV_SIGNING_KEY_FILE = DEV_AUTH_DIR / "platform-signing-key.pem"
DEV_CLIENTS_FILE = DEV_AUTH_DIR / "clients.json"
DEV_CLIENT_KEYS_DIR = DEV_AUTH_DIR / "keys"

DEV_PLATFORM_THUMBPRINT = "G5vRViAXW2Z81oF2XSie0X_8mR6qsJ3B4BxKU0xa5xo"
DEV_CLIENT_THUMBPRINTS = frozenset(
    {
        "ExpwmQ-qWQAaagTJurN6bF9rrY7ih1tC-rV3kJt4VIA",  # admin
        "moa0tETks2KgbcdBdbSciPgSjhNwFz5LRwU2sadpyNw",  # auditor
        "aCO-mY8c0Z_e3Sch6JPmeShe2aZ7CAF-oBBUG9UBvJs",  # ehr-bayview-tampa
        "p6dsVC3365Z-kOKURp_0ZMegOWugNRyNR41yQiwN2G4",  # ehr-harbor-la
        "RKsuB8J0wUl65eJNQ_atRHdHDfIrsYvaW4HnT1MSEC0",  # ehr-hudson-albany
        "zWanKFz9kocS8CBOM2S77VerPf3mX7ut_dnP2VhvsWs",  # ehr-lakeside-chicago
        "ccTMRh0vh5kMoNTKRQL3Ta2Y4Y6yxH18kLA3SQixBwU",  # ehr-mercy-dallas
        "X_N5YxTcSkW761ID7aBt9dVsVHN0_oOjQDWmSywxGVA",  # ehr-summit-denver
        "a_mDGKllNzDssB3wKf0gbfmxA1q5KE1-ZyiOOfzKuWk",  # radiologist-chen
        "iQphZh9Ekeu9I2cCXY3BsDBDpxnU_mQVSCy4bXP5k1Y",  # vendor-nightwatch
    }
)
DEVELOPMENT_THUMBPRINTS = DEV_CLIENT_THUMBPRINTS | {DEV_PLATFORM_THUMBPRINT}


def development_file(path: Path) -> str | None:
    """The text of a development file, None when it is not there (e.g. in the image, which
    ships no deploy/ directory: deployments then configure keys explicitly)."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None

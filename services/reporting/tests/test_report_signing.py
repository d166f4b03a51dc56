"""Final, amended, corrected and appended versions are signed by the service in the
write's own transaction: a Provenance targeting that exact version (activity verify, the
radiologist as verifier, a Verification Signature / proof of approval whose data is a JWS
with detached payload over the version's canonical JSON, made with the radiologist's own
key). `$verify` says whether the signature still holds: a version changed in the
database afterwards no longer verifies. The public keys are published as a JWKS, so an
EHR verifies with nothing but a JOSE library."""

from __future__ import annotations

import base64
from typing import Any

import jwt
import orjson
import pytest
from pydantic import SecretStr
from sqlalchemy import select, update

from services.reporting.settings import ReportingSettings
from services.reporting.signing import canonical
from services.reporting.tables import signing_key
from services.reporting.tests.support import Services, new_order, report, text_form
from shared.fhir.storage.tables import resource_versions, resources
from tests.support.rest import create
from tests.support.rest import update as put


def _named(parameters: dict[str, Any], name: str) -> Any:
    found = [p for p in parameters["parameter"] if p["name"] == name]
    if not found:
        return None
    value = found[0]
    return value.get("resource") or next(v for k, v in value.items() if k.startswith("value"))


async def _signed_report(services: Services) -> tuple[dict[str, Any], str, str]:
    role, practitioner = await services.radiologist()
    order = new_order()
    await services.read_task(order, role)
    final = await create(services.reporting, report(order, interpreter=role))
    return final, role, practitioner


async def _provenances(services: Services, report_id: str) -> list[dict[str, Any]]:
    response = await services.reporting.get(
        "/Provenance", params={"target": f"DiagnosticReport/{report_id}"}
    )
    assert response.status_code == 200, response.text
    return [e["resource"] for e in response.json().get("entry") or []]


async def _verify(services: Services, report_id: str, version: str | None = None) -> Any:
    path = f"/DiagnosticReport/{report_id}"
    path += f"/_history/{version}/$verify" if version else "/$verify"
    response = await services.reporting.get(path)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_final_report_is_signed_by_its_radiologist_for_that_exact_version(
    services: Services,
) -> None:
    final, _, practitioner = await _signed_report(services)

    (provenance,) = await _provenances(services, final["id"])

    assert provenance["target"] == [{"reference": f"DiagnosticReport/{final['id']}/_history/1"}]
    assert provenance["activity"]["coding"][0]["code"] == "VRF"
    assert provenance["agent"][0]["who"] == {"reference": practitioner}
    assert provenance["agent"][0]["type"]["coding"][0]["code"] == "verifier"
    (signature,) = provenance["signature"]
    assert {c["code"] for c in signature["type"]} == {"1.2.840.10065.1.12.1.5", "ProofOfapproval"}
    assert signature["who"] == {"reference": practitioner}
    assert signature["sigFormat"] == "application/jose"
    assert signature["targetFormat"] == "application/fhir+json"
    assert signature["when"] == final["issued"] == provenance["recorded"]


async def test_verify_holds_for_a_signed_version_and_names_signer_and_key(
    services: Services,
) -> None:
    final, _, practitioner = await _signed_report(services)

    answer = await _verify(services, final["id"])

    assert _named(answer, "valid") is True
    assert _named(answer, "report") == {"reference": f"DiagnosticReport/{final['id']}/_history/1"}
    assert _named(answer, "signer") == {"reference": practitioner}
    assert _named(answer, "provenance")["resourceType"] == "Provenance"
    assert _named(answer, "signed-at") == final["issued"]
    assert _named(answer, "reason") is None
    posted = await services.reporting.post(
        f"/DiagnosticReport/{final['id']}/$verify",
        json={"resourceType": "Parameters"},
        headers={"Content-Type": "application/fhir+json"},
    )
    assert posted.status_code == 200, posted.text
    assert _named(posted.json(), "valid") is True


async def test_a_version_changed_in_the_database_no_longer_verifies(services: Services) -> None:
    final, _, _ = await _signed_report(services)
    altered = {**final, "conclusion": "Something the radiologist never signed."}
    async with services.reporting_app.state.database.transaction() as session:
        pk = (
            await session.execute(
                select(resources.c.pk).where(
                    resources.c.resource_type == "DiagnosticReport", resources.c.id == final["id"]
                )
            )
        ).scalar_one()
        content = orjson.dumps(altered).decode()
        await session.execute(update(resources).where(resources.c.pk == pk).values(content=content))
        await session.execute(
            update(resource_versions)
            .where(resource_versions.c.resource_pk == pk, resource_versions.c.version_id == 1)
            .values(content=content)
        )

    answer = await _verify(services, final["id"])

    assert _named(answer, "valid") is False
    assert "differs from what was signed" in _named(answer, "reason")


async def test_every_signed_version_has_its_own_signature_and_a_preliminary_none(
    services: Services,
) -> None:
    role, _ = await services.radiologist()
    order = new_order()
    await services.read_task(order, role)
    preliminary = await create(
        services.reporting, report(order, interpreter=role, status="preliminary")
    )
    final = await put(services.reporting, {**preliminary, "status": "final"})
    appended = await put(
        services.reporting,
        {
            **final,
            "status": "appended",
            "presentedForm": [*final["presentedForm"], text_form("Addendum text.")],
        },
    )

    targets = {p["target"][0]["reference"] for p in await _provenances(services, final["id"])}
    assert targets == {
        f"DiagnosticReport/{final['id']}/_history/2",
        f"DiagnosticReport/{final['id']}/_history/3",
    }
    assert _named(await _verify(services, final["id"], "2"), "valid") is True
    assert _named(await _verify(services, appended["id"]), "valid") is True
    unsigned = await _verify(services, final["id"], "1")
    assert _named(unsigned, "valid") is False
    assert "not signed" in _named(unsigned, "reason")


async def test_an_ehr_verifies_a_signature_with_the_published_keys_alone(
    services: Services,
) -> None:
    final, _, practitioner = await _signed_report(services)
    (provenance,) = await _provenances(services, final["id"])
    keys = await services.reporting.get("/Provenance/$signing-keys")
    version = await services.reporting.get(f"/DiagnosticReport/{final['id']}/_history/1")

    assert keys.status_code == 200, keys.text
    assert keys.headers["content-type"].startswith("application/jwk-set+json")
    jws = base64.b64decode(provenance["signature"][0]["data"])
    kid = jwt.get_unverified_header(jws)["kid"]
    (jwk,) = [k for k in keys.json()["keys"] if k["kid"] == kid]
    assert jwk["sub"] == practitioner
    assert "d" not in jwk  # public halves only
    key = jwt.PyJWK(jwk, algorithm="ES256").key
    checked = jwt.api_jws.PyJWS().decode_complete(
        jws, key, algorithms=["ES256"], detached_payload=canonical(version.json())
    )
    assert checked["header"]["kid"] == kid


async def test_one_key_per_radiologist_kept_encrypted(services: Services) -> None:
    first, _, _ = await _signed_report(services)
    await put(services.reporting, {**first, "status": "amended"})
    await _signed_report(services)  # another radiologist

    async with services.reporting_app.state.database.transaction() as session:
        rows = (await session.execute(select(signing_key))).all()

    assert len(rows) == 2
    assert all("ENCRYPTED PRIVATE KEY" in row.private_key for row in rows)


async def test_signatures_are_written_by_the_service_only(services: Services) -> None:
    final, _, _ = await _signed_report(services)
    (provenance,) = await _provenances(services, final["id"])
    forged = {k: v for k, v in provenance.items() if k not in ("id", "meta")}

    response = await services.reporting.post("/Provenance", json=forged)

    assert response.status_code == 405, response.text


def test_the_key_encryption_secret_must_be_set_outside_development() -> None:
    with pytest.raises(ValueError, match="REPORT_SIGNING_KEY_SECRET"):
        ReportingSettings(
            service_name="reporting",
            environment="test",
            service_token=SecretStr("s" * 40),
            events_signing_secret=SecretStr("e" * 40),
            auth_verify_jwks='{"keys": []}',
        )


async def test_the_capability_statement_lists_the_operations_on_their_types(
    services: Services,
) -> None:
    response = await services.reporting.get("/metadata")

    resources = {r["type"]: r for r in response.json()["rest"][0]["resource"]}
    verify = resources["DiagnosticReport"]["operation"]
    assert [(o["name"], o["definition"].rsplit("/", 1)[1]) for o in verify] == [
        ("verify", "DiagnosticReport-verify"),
        ("hl7v2", "DiagnosticReport-hl7v2"),
    ]
    assert [o["name"] for o in resources["Provenance"]["operation"]] == ["signing-keys"]
    assert {i["code"] for i in resources["Provenance"]["interaction"]} == {
        "read",
        "vread",
        "search-type",
        "history-instance",
        "history-type",
    }


async def test_a_key_stored_under_another_secret_signs_nothing_and_nothing_is_written(
    services: Services,
) -> None:
    final, _, _ = await _signed_report(services)
    settings = services.reporting_app.state.settings
    services.reporting_app.state.settings = settings.model_copy(
        update={"report_signing_key_secret": SecretStr("another-secret-" + "x" * 32)}
    )
    try:
        response = await services.reporting.put(
            f"/DiagnosticReport/{final['id']}", json={**final, "status": "amended"}
        )
    finally:
        services.reporting_app.state.settings = settings

    assert response.status_code == 500, response.text
    current = await services.reporting.get(f"/DiagnosticReport/{final['id']}")
    assert current.json()["meta"]["versionId"] == "1"  # the amendment was not stored unsigned

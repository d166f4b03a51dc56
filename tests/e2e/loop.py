"""What the end-to-end tests do through the front door: a roster, orders, reports,
subscriptions -- as an EHR, an operator and a radiologist would send them."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any, TypeVar
from uuid import uuid4

import httpx
import orjson

from services.assignment import codes
from services.intake.tests.builders import (
    accession,
    bundle,
    medical_record_number,
    post_entry,
)
from shared.events.delivery import SIGNATURE_HEADER, sign
from shared.events.subscriptions import PAYLOAD_CONTENT, SIGNING_SECRET
from shared.events.topics import TOPIC_BASE
from shared.settings import DEV_EVENTS_SECRET_DEFAULT
from tests.e2e.platform import E2EPlatform

PLAN_NET = (
    "http://hl7.org/fhir/us/davinci-pdex-plan-net/StructureDefinition/practitioner-qualification"
)
NPI = "http://hl7.org/fhir/sid/us-npi"
SECRET = "e2e-subscriber-signing-secret-0123456789"
T = TypeVar("T")


def wait_until(probe: Callable[[], T | None], *, timeout: float = 30.0, what: str) -> T:
    """`probe()`'s first truthy answer, polled; AssertionError naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


def licence(state: str) -> dict[str, Any]:
    """A Plan-Net qualification: an active licence in `state`."""
    return {
        "extension": [
            {
                "url": PLAN_NET,
                "extension": [
                    {"url": "status", "valueCode": "active"},
                    {
                        "url": "whereValid",
                        "valueCodeableConcept": {
                            "coding": [{"system": "https://www.usps.com/", "code": state}]
                        },
                    },
                ],
            }
        ],
        "code": {"text": "Medical licence"},
        "period": {"start": "2020-01-01", "end": "2099-12-31"},
    }


def radiologist(client: httpx.Client, family: str, *states: str) -> str:
    """A Practitioner licensed in `states`; its reference."""
    practitioner = {
        "resourceType": "Practitioner",
        "active": True,
        "name": [{"family": family, "given": ["Dr"]}],
        "qualification": [licence(s) for s in states],
    }
    return f"Practitioner/{created(client.post('/Practitioner', json=practitioner))['id']}"


READING_GROUP = "Organization/e2e-reading-group"
ALL_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def privileges(client: httpx.Client, practitioner: str, facility: str) -> str:
    """What lets `practitioner` read for `facility`: privileges there, a reading role in the
    test's reading group (all modalities, on shift around the clock) and the group's
    contract with the facility. The reading role's reference (a Task's owner)."""
    facility_privileges(client, practitioner, facility)
    primary_contract(client, facility)
    return reading_role(client, practitioner)


def facility_privileges(client: httpx.Client, practitioner: str, facility: str) -> None:
    """`practitioner`'s privileges at `facility` (from 2020, open-ended)."""
    created(
        client.post(
            "/PractitionerRole",
            json={
                "resourceType": "PractitionerRole",
                "active": True,
                "practitioner": {"reference": practitioner},
                "organization": {"reference": facility},
                "period": {"start": "2020-01-01"},
            },
        )
    )


def primary_contract(client: httpx.Client, facility: str, *extensions: dict[str, Any]) -> str:
    """The reading group's primary contract with `facility` (e.g. with sla-target
    `extensions`); its reference."""
    contract: dict[str, Any] = {
        "resourceType": "OrganizationAffiliation",
        "active": True,
        "code": [{"coding": [{"system": codes.CONTRACT_KIND_SYSTEM, "code": codes.PRIMARY}]}],
        "organization": {"reference": facility},
        "participatingOrganization": {"reference": READING_GROUP},
    }
    if extensions:
        contract["extension"] = list(extensions)
    body = created(client.post("/OrganizationAffiliation", json=contract))
    return f"OrganizationAffiliation/{body['id']}"


def reading_role(client: httpx.Client, practitioner: str) -> str:
    """`practitioner`'s membership of the test's reading group: all modalities, on shift
    around the clock; its reference (a Task's owner)."""
    role = {
        "resourceType": "PractitionerRole",
        "extension": [
            {"url": codes.TIMEZONE_EXTENSION, "valueCode": "UTC"},
            *(
                {"url": codes.READ_MODALITY_EXTENSION, "valueCode": m}
                for m in ("CT", "MR", "DX", "US")
            ),
        ],
        "active": True,
        "practitioner": {"reference": practitioner},
        "organization": {"reference": READING_GROUP},
        "code": [{"coding": [{"system": codes.READING_ROLE_SYSTEM, "code": codes.RADIOLOGIST}]}],
        "availableTime": [{"daysOfWeek": ALL_DAYS, "allDay": True}],
    }
    return f"PractitionerRole/{created(client.post('/PractitionerRole', json=role))['id']}"


def facility(client: httpx.Client, state: str = "TX") -> str:
    """An imaging facility (its own NPI); its reference."""
    npi = str(uuid4().int)[:10]
    organization = {
        "resourceType": "Organization",
        "name": "Lakeside Imaging Center",
        "identifier": [{"system": NPI, "value": npi}],
        "address": [{"state": state}],
    }
    return f"Organization/{created(client.post('/Organization', json=organization))['id']}"


def order_bundle(facility: str, *, state: str = "TX", priority: str = "stat") -> dict[str, Any]:
    """What an EHR sends: the patient and the order, as one transaction."""
    patient_url = f"urn:uuid:{uuid4()}"
    patient = {
        "resourceType": "Patient",
        "identifier": [medical_record_number(f"MRN-{uuid4().hex[:12]}")],
        "name": [{"family": "Rivera", "given": ["Ana"]}],
        "address": [{"use": "home", "state": state}],
    }
    order = {
        "resourceType": "ServiceRequest",
        "identifier": [accession(f"ACC-{uuid4().hex[:12]}")],
        "status": "active",
        "intent": "order",
        "priority": priority,
        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "70450"}]},
        "subject": {"reference": patient_url},
        "requester": {"reference": facility},
    }
    return bundle("transaction", post_entry(patient, patient_url), post_entry(order))


def place_order(client: httpx.Client, facility: str, **kwargs: Any) -> str:
    """POST the order transaction; the new ServiceRequest's id."""
    response = client.post("/", json=order_bundle(facility, **kwargs))
    assert response.status_code == 200, response.text
    location = response.json()["entry"][1]["response"]["location"]
    return str(location.split("ServiceRequest/")[1].split("/")[0])


def tasks_of(client: httpx.Client, order_id: str) -> list[dict[str, Any]]:
    bundle_ = created(client.get("/Task", params={"focus": f"ServiceRequest/{order_id}"}))
    return [e["resource"] for e in bundle_.get("entry") or []]


def report(order_id: str, patient: dict[str, Any], interpreter: str) -> dict[str, Any]:
    """A final CT head report of the order, read by `interpreter`."""
    return {
        "resourceType": "DiagnosticReport",
        "status": "final",
        "category": [
            {
                "coding": [
                    {"system": "http://loinc.org", "code": "LP29684-5", "display": "Radiology"}
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "24725-4"}]},
        "basedOn": [{"reference": f"ServiceRequest/{order_id}"}],
        "subject": patient,
        "resultsInterpreter": [{"reference": interpreter}],
        "imagingStudy": [{"reference": f"ImagingStudy/study-of-{order_id}"}],
        "conclusion": "No acute intracranial abnormality.",
        "conclusionCode": [{"coding": [{"system": "http://snomed.info/sct", "code": "281900007"}]}],
        "presentedForm": [
            {
                "contentType": "text/plain",
                "data": base64.b64encode(b"CT head: no acute intracranial abnormality.").decode(),
                "title": "Report",
            }
        ],
    }


def subscribe(
    client: httpx.Client, topic: str, endpoint: str, *filters: str, content: str = "full-resource"
) -> str:
    """A Subscription to the platform topic `topic` (e.g. "report-final"); its id."""
    subscription: dict[str, Any] = {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "e2e test subscriber",
        "criteria": f"{TOPIC_BASE}/{topic}",
        "channel": {
            "type": "rest-hook",
            "endpoint": endpoint,
            "payload": "application/fhir+json",
            "_payload": {"extension": [{"url": PAYLOAD_CONTENT, "valueCode": content}]},
        },
        "extension": [{"url": SIGNING_SECRET, "valueString": SECRET}],
    }
    if filters:
        subscription["_criteria"] = {
            "extension": [
                {
                    "url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-filter-criteria",
                    "valueString": f,
                }
                for f in filters
            ]
        }
    return str(created(client.post("/Subscription", json=subscription))["id"])


def parameter(parameters: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [p for p in parameters.get("parameter") or [] if p.get("name") == name]


def read_task(client: httpx.Client, order_id: str) -> dict[str, Any]:
    """The order's read Task, once assignment has made it."""
    return wait_until(lambda: tasks_of(client, order_id), timeout=60, what="the read Task")[0]


def move_task(client: httpx.Client, task: dict[str, Any], status: str) -> dict[str, Any]:
    """`task` moved to `status` (as its radiologist would); the new version."""
    return created(client.put(f"/Task/{task['id']}", json={**task, "status": status}))


def turnaround(client: httpx.Client, order_id: str) -> dict[str, Any] | None:
    """sla's `$turnaround` of the order; None until sla knows it."""
    answer = client.get("/$turnaround", params={"order": f"ServiceRequest/{order_id}"})
    body: dict[str, Any] = answer.json()
    return body if answer.status_code == 200 else None


def milestones(parameters: dict[str, Any]) -> dict[str, str]:
    """The milestones of a `$turnaround` answer, in its order: code -> instant."""
    return {
        p["part"][0]["valueCode"]: p["part"][1]["valueInstant"]
        for p in parameter(parameters, "milestone")
    }


def value(parameters: dict[str, Any], name: str) -> Any:
    """The value[x] of the first parameter `name` (AssertionError when there is none)."""
    found = parameter(parameters, name)
    assert found, f"no {name} in {parameters}"
    return next(v for k, v in found[0].items() if k.startswith("value"))


def order_to_completed_task(client: httpx.Client) -> str:
    """The whole loop through `client`: roster, order, its Task for the one eligible
    radiologist, that radiologist's final report, the Task completed; the order id."""
    site = facility(client, "TX")
    reader = radiologist(client, "Okafor", "TX")
    role = privileges(client, reader, site)
    order_id = place_order(client, site)
    task = wait_until(lambda: tasks_of(client, order_id), what="the Task")[0]
    assert task["owner"]["reference"] == role
    created(client.post("/DiagnosticReport", json=report(order_id, task["for"], reader)))
    wait_until(
        lambda: tasks_of(client, order_id)[0]["status"] == "completed",
        what="the Task completed",
    )
    return order_id


def replay_everything(platform: E2EPlatform, consumer: str, publisher: str, topic: str) -> int:
    """Send `consumer` again every event of its subscription at `publisher`; how many."""
    endpoint = f"{platform.local.origin(consumer)}/events/{topic}"
    with platform.client(publisher) as client:
        found = created(
            client.get(
                "/Subscription", params={"criteria": f"{TOPIC_BASE}/{topic}", "url": endpoint}
            )
        )
        subscription = found["entry"][0]["resource"]["id"]
        replay = created(
            client.get(
                f"/Subscription/{subscription}/$events",
                params={"eventsSinceNumber": "1", "content": "full-resource"},
            )
        )
    status = replay["entry"][0]["resource"]
    for part in status["parameter"]:
        if part["name"] == "type":
            part["valueCode"] = "event-notification"  # as the notifier would send it again
    body = orjson.dumps(replay)
    signature = sign(DEV_EVENTS_SECRET_DEFAULT.encode(), int(time.time()), body)
    answer = httpx.post(
        endpoint,
        content=body,
        headers={"Content-Type": "application/fhir+json", SIGNATURE_HEADER: signature},
        trust_env=False,
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return sum(1 for p in status["parameter"] if p["name"] == "notification-event")

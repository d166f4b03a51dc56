"""The tenancy benchmark's data set: many facilities' orders, patients and studies, loaded in
bulk with exactly the rows the intake service writes for them.

Writing 100,000+ resources through the API would take most of an hour on two cores, so the
rows are built here -- the stored JSON by `with_server_meta`, the search index rows by
`extract_index_rows` with intake's own definitions, the unique identifiers by each type's
`unique_keys` -- and copied in with COPY. The access labels follow services/intake/access.py
(an order: its facility and `order/<id>`; a study: its order's; a patient: its managing
facility and every label of its orders) and the grants follow intake's consumer of Task
assignments (holder, `order/<id>`, `Task/<id>`); bench/tenancy_bench.py checks both against
the running app before it measures anything.
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson

from services.intake.codes import (
    DICOM_UID_SYSTEM,
    IDENTIFIER_TYPE_SYSTEM,
    NPI_SYSTEM,
    ORGANIZATION_ROLE_SYSTEM,
    READING_GROUP,
)
from services.intake.resources import REGISTRY
from services.intake.seed import CPT_SYSTEM, DICOM_MODALITY, EXAMS
from shared.fhir.access import order_label
from shared.fhir.search.index import extract_index_rows
from shared.fhir.service import with_server_meta

_SNOMED_IMAGING = {"system": "http://snomed.info/sct", "code": "363679005", "display": "Imaging"}
_FAMILIES = ("Rivera", "Chen", "Okafor", "Novak", "Haddad", "Lindqvist", "Moreau", "Tanaka")
_GIVEN = ("Alex", "Sam", "Jordan", "Robin", "Casey", "Morgan", "Avery", "Quinn")
_PRIORITIES = ("routine", "routine", "routine", "urgent", "stat")


@dataclass(frozen=True, slots=True)
class Shape:
    """How big the data set is."""

    facilities: int = 200
    orders: int = 50_000
    vendor_share: float = 0.01  # of the orders, granted to the one partner vendor
    radiologists: int = 100  # holders of the other orders' grants
    seed: int = 20261128


@dataclass(slots=True)
class DataSet:
    """What was loaded: the ids the benchmark's callers use, and what each should see."""

    facilities: list[str] = field(default_factory=list)  # Organization ids
    vendor: str = ""  # the partner vendor's Organization id
    orders: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    vendor_orders: list[str] = field(default_factory=list)
    # (holder label, resource type) -> how many current resources that holder may see
    visible: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows loaded

    @property
    def all_orders(self) -> list[str]:
        return [order for orders in self.orders.values() for order in orders]


class Rows:
    """Rows per table, in COPY order, for resources added one version at a time."""

    COLUMNS = {
        "fhir_resource": (
            "pk",
            "resource_type",
            "id",
            "version_id",
            "last_updated",
            "deleted",
            "content",
        ),
        "fhir_resource_version": (
            "resource_pk",
            "resource_type",
            "id",
            "version_id",
            "last_updated",
            "method",
            "deleted",
            "content",
        ),
        "search_token": ("resource_pk", "resource_type", "param", "system", "code"),
        "search_string": ("resource_pk", "resource_type", "param", "normalized", "exact"),
        "search_date": ("resource_pk", "resource_type", "param", "low", "high"),
        "search_reference": ("resource_pk", "resource_type", "param", "target_type", "target_id"),
        "unique_identifier": ("resource_type", "system", "value", "resource_id"),
        "resource_access": ("resource_pk", "label"),
        "access_grant": ("holder", "label", "source"),
    }

    def __init__(self) -> None:
        self.tables: dict[str, list[tuple[Any, ...]]] = {name: [] for name in self.COLUMNS}
        self.labels: dict[int, set[str]] = defaultdict(set)
        self._current: dict[int, tuple[Any, ...]] = {}
        self._versions: list[tuple[Any, ...]] = []
        self._next_pk = 1

    def store(self, resource: dict[str, Any], moment: datetime, pk: int | None = None) -> int:
        """Write `resource` as a new resource (or the next version of `pk`): its row, history
        row, index rows and identifier claims, as the service would."""
        definition = REGISTRY.require(resource["resourceType"])
        if pk is None:
            pk, self._next_pk = self._next_pk, self._next_pk + 1
            version, method = 1, "POST"
        else:
            version, method = self._current[pk][3] + 1, "PUT"
        stored = with_server_meta(resource, resource["id"], version, moment)
        content = orjson.dumps(stored).decode()
        rtype = definition.type
        self._current[pk] = (pk, rtype, stored["id"], version, moment, False, content)
        self._versions.append((moment, pk, rtype, stored["id"], version, method, False, content))
        if version == 1 and definition.unique_keys is not None:
            self.tables["unique_identifier"] += [
                (rtype, system, value, stored["id"])
                for system, value in definition.unique_keys(stored)
            ]
        return pk

    def finish(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every table's rows: current versions indexed, history in time order, labels."""
        self.tables["fhir_resource"] = list(self._current.values())
        self.tables["fhir_resource_version"] = [
            (*v[1:5], v[0], *v[5:]) for v in sorted(self._versions)
        ]
        for pk, rtype, _, _, _, _, content in self._current.values():
            rows = extract_index_rows(REGISTRY.require(rtype), orjson.loads(content))
            for name, found in (
                ("search_token", rows.token),
                ("search_string", rows.string),
                ("search_date", rows.date),
                ("search_reference", rows.reference),
            ):
                columns = self.COLUMNS[name][1:]
                self.tables[name] += [(pk, *(row[c] for c in columns)) for row in found]
        self.tables["resource_access"] = [
            (pk, label) for pk, labels in sorted(self.labels.items()) for label in sorted(labels)
        ]
        return self.tables


def _new_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _organization(rng: random.Random, index: int, vendor: bool = False) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Organization",
        "id": _new_id(rng),
        "identifier": [{"system": NPI_SYSTEM, "value": f"19{index:08d}"}],
        "active": True,
        "name": f"Bench Reading Group {index}" if vendor else f"Bench Facility {index}",
        "address": [{"state": rng.choice(("TX", "CA", "NY", "FL", "IL")), "country": "US"}],
    }
    if vendor:
        coding = {"system": ORGANIZATION_ROLE_SYSTEM, "code": READING_GROUP}
        resource["type"] = [{"coding": [coding]}]
    return resource


def _patient(rng: random.Random, facility: str, serial: int) -> dict[str, Any]:
    mrn_type = {"coding": [{"system": IDENTIFIER_TYPE_SYSTEM, "code": "MR"}]}
    return {
        "resourceType": "Patient",
        "id": _new_id(rng),
        "identifier": [
            {"type": mrn_type, "system": f"urn:bench:{facility}:mrn", "value": f"M{serial}"}
        ],
        "name": [{"family": rng.choice(_FAMILIES), "given": [rng.choice(_GIVEN)]}],
        "gender": rng.choice(("female", "male")),
        "birthDate": f"{rng.randint(1935, 2020)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        # What a reader is not shown (shared/fhir/access.py: minimum necessary).
        "telecom": [{"system": "phone", "value": f"555-01{serial % 100:02d}", "use": "home"}],
        "address": [{"line": [f"{serial % 900 + 100} Bench St"], "state": "TX", "country": "US"}],
        "managingOrganization": {"reference": f"Organization/{facility}"},
    }


def _order(
    rng: random.Random, facility: str, patient: str, serial: int, moment: datetime
) -> dict[str, Any]:
    cpt, display, _ = EXAMS[serial % len(EXAMS)]
    acsn_type = {"coding": [{"system": IDENTIFIER_TYPE_SYSTEM, "code": "ACSN"}]}
    return {
        "resourceType": "ServiceRequest",
        "id": _new_id(rng),
        "identifier": [
            {"type": acsn_type, "system": f"urn:bench:{facility}:acsn", "value": f"A{serial}"}
        ],
        "status": "active",
        "intent": "order",
        "priority": rng.choice(_PRIORITIES),
        "category": [{"coding": [_SNOMED_IMAGING]}],
        "code": {"coding": [{"system": CPT_SYSTEM, "code": cpt, "display": display}]},
        "subject": {"reference": f"Patient/{patient}"},
        "authoredOn": moment.isoformat(timespec="seconds"),
        "requester": {"reference": f"Organization/{facility}"},
        "reasonCode": [{"text": "Bench indication"}],
    }


def _study(
    rng: random.Random, order: dict[str, Any], serial: int, moment: datetime
) -> dict[str, Any]:
    modality = {"system": DICOM_MODALITY, "code": EXAMS[serial % len(EXAMS)][2]}
    return {
        "resourceType": "ImagingStudy",
        "id": _new_id(rng),
        "identifier": [{"system": DICOM_UID_SYSTEM, "value": f"urn:oid:2.25.77{serial}"}],
        "status": "available",
        "modality": [modality],
        "subject": order["subject"],
        "basedOn": [{"reference": f"ServiceRequest/{order['id']}"}],
        "started": moment.isoformat(timespec="seconds"),
        "numberOfSeries": 1,
        "series": [{"uid": f"2.25.77{serial}.1", "number": 1, "modality": modality}],
    }


def _final_status(rng: random.Random, age: timedelta) -> str:
    """Older orders are mostly read; the last week's mostly still active."""
    draw = rng.random()
    if age > timedelta(days=7):
        return "completed" if draw < 0.85 else "revoked" if draw < 0.90 else "active"
    return "active" if draw < 0.85 else "completed"


def build(
    shape: Shape, now: datetime | None = None
) -> tuple[DataSet, dict[str, list[tuple[Any, ...]]]]:
    """The data set and its rows: a year of orders over `shape.facilities` facilities."""
    rng = random.Random(shape.seed)
    now = now or datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=365)
    data, rows = DataSet(), Rows()
    for index in range(shape.facilities + 1):
        organization = _organization(rng, index, vendor=index == shape.facilities)
        pk = rows.store(organization, start - timedelta(days=30, seconds=-index))
        rows.labels[pk].add(f"Organization/{organization['id']}")
        data.facilities.append(organization["id"])
    data.vendor = data.facilities.pop()
    moments = sorted(
        start + timedelta(seconds=rng.uniform(0, 365 * 86400)) for _ in range(shape.orders)
    )
    patients: dict[str, list[tuple[str, int]]] = defaultdict(list)
    order_pks: list[tuple[int, str]] = []
    for serial, moment in enumerate(moments):
        facility = rng.choice(data.facilities)
        patient, patient_pk = _patient_of(rng, rows, patients[facility], facility, serial, moment)
        order = _order(rng, facility, patient, serial, moment)
        pk = rows.store(order, moment)
        labels = {order_label(order["id"]), f"Organization/{facility}"}
        rows.labels[pk] |= labels
        rows.labels[patient_pk] |= labels
        data.orders[facility].append(order["id"])
        order_pks.append((pk, order["id"]))
        status = _final_status(rng, now - moment)
        if status != "active":
            read = moment + timedelta(hours=rng.uniform(0.5, 48))
            rows.store(order | {"status": status}, read, pk)
        if rng.random() < (0.95 if now - moment > timedelta(days=1) else 0.5):
            study = _study(rng, order, serial, moment)
            rows.labels[rows.store(study, moment + timedelta(minutes=40))] |= labels
    _grant(rng, shape, data, rows, order_pks)
    tables = rows.finish()
    _expect(data, rows, tables)
    data.rows = {name: len(found) for name, found in tables.items()}
    return data, tables


def _patient_of(
    rng: random.Random,
    rows: Rows,
    known: list[tuple[str, int]],
    facility: str,
    serial: int,
    moment: datetime,
) -> tuple[str, int]:
    """(id, pk) of one of the facility's `known` patients (40 %), else of a new one."""
    if known and rng.random() < 0.4:
        return rng.choice(known)
    resource = _patient(rng, facility, serial)
    pk = rows.store(resource, moment - timedelta(minutes=5))
    rows.labels[pk].add(f"Organization/{facility}")
    known.append((resource["id"], pk))
    return resource["id"], pk


def _grant(
    rng: random.Random, shape: Shape, data: DataSet, rows: Rows, order_pks: list[tuple[int, str]]
) -> None:
    """The vendor holds its share of the orders; radiologists hold most of the rest."""
    vendor = f"Organization/{data.vendor}"
    radiologists = [f"Practitioner/{_new_id(rng)}" for _ in range(shape.radiologists)]
    chosen = set(rng.sample(range(len(order_pks)), round(len(order_pks) * shape.vendor_share)))
    grants = rows.tables["access_grant"]
    for index, (_, order_id) in enumerate(order_pks):
        task = f"Task/{_new_id(rng)}"
        if index in chosen:
            grants.append((vendor, order_label(order_id), task))
            data.vendor_orders.append(order_id)
        elif rng.random() < 0.8:
            grants.append((rng.choice(radiologists), order_label(order_id), task))


def _expect(data: DataSet, rows: Rows, tables: dict[str, list[tuple[Any, ...]]]) -> None:
    """How many resources of each type the measured facility, the vendor and everyone see."""
    facility, vendor = f"Organization/{data.facilities[0]}", f"Organization/{data.vendor}"
    vendor_labels = {order_label(o) for o in data.vendor_orders} | {vendor}
    for pk, rtype, *_ in tables["fhir_resource"]:
        labels = rows.labels[pk]
        data.visible[("*", rtype)] += 1
        data.visible[(facility, rtype)] += facility in labels
        data.visible[(vendor, rtype)] += bool(labels & vendor_labels)


async def load(url: str, tables: dict[str, list[tuple[Any, ...]]]) -> None:
    """COPY the rows into the migrated, empty database at `url` (asyncpg DSN), then VACUUM
    ANALYZE, as autovacuum would have long since done on a database this old."""
    connection = await asyncpg.connect(url)
    try:
        async with connection.transaction():
            for name, records in tables.items():
                await connection.copy_records_to_table(
                    name, records=records, columns=Rows.COLUMNS[name]
                )
            for table, column in (("fhir_resource", "pk"), ("fhir_resource_version", "seq")):
                await connection.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                    f"(SELECT max({column}) FROM {table}))"
                )
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()

"""The cores of `make bench-reports` and `make bench-sla` on a small size, so that they keep
running as the services change: the benchmark's report passes reporting's rules and is
signed (its baseline stored without them), each part of the breakdown runs, and sla's seeded
copies are clocks that `order_facts` finds (PostgreSQL: the copies are made in SQL)."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from asgi_lifespan import LifespanManager

from bench.inprocess_load import closed_loop
from bench.intake_inprocess import asgi_caller
from bench.notifications_bench import _asyncpg_dsn
from bench.reports_bench import HEADERS, breakdown, writer
from bench.reports_world import (
    ASSIGNMENT_URL,
    DEV_TOKEN,
    Assignment,
    baseline_app,
    reach_assignment,
)
from bench.sla_seed import Seeded, closed_reads, grow, open_reads, seed_template
from services.reporting.settings import ReportingSettings
from services.sla.facts import order_facts
from shared.settings import ServiceSettings
from tests.fixtures import running_app


async def test_a_bench_report_is_written_signed_and_broken_down(
    make_settings: Callable[..., ServiceSettings],
) -> None:
    base = make_settings("reporting", assignment_url=ASSIGNMENT_URL, dev_auth_token=DEV_TOKEN)
    settings = ReportingSettings.model_validate(base.model_dump())
    assignment = Assignment()
    async with (
        running_app("reporting", settings) as reporting,
        LifespanManager(baseline_app(settings)) as baseline,
    ):
        await reporting.state.peers.client.aclose()
        reach_assignment(reporting, assignment)
        call, plain = asgi_caller(reporting, HEADERS), asgi_caller(baseline.app, HEADERS)
        written: list[str] = []
        run = await closed_loop(writer(call, written), concurrency=2, duration=0.2, postmaster=None)
        await writer(plain, [])()

        assert written and run.figures()["n"] == len(written)
        assert assignment.calls == 2 * len(written)  # the Task and the owning role, per write
        parts = await breakdown(reporting, 2, written[0], call)
        status, body = await call(
            "GET", "/fhir/Provenance", f"target=DiagnosticReport/{written[0]}".encode()
        )
    assert status == 200 and b'"sigFormat":"application/jose"' in body
    assert all(parts[name]["n"] == 2 for name in parts if not name.startswith("_"))


async def test_seeded_copies_are_clocks_order_facts_finds(
    make_settings: Callable[..., ServiceSettings], backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("the benchmark copies its template in PostgreSQL's SQL")
    settings = make_settings("sla")
    rng, now = random.Random(7), datetime.now(UTC)
    day = (now - timedelta(days=10)).replace(hour=0, minute=0, second=0, microsecond=0)
    async with running_app("sla", settings) as app:
        closed: Seeded = await seed_template(app, closed_reads(5, day, rng))
        opened: Seeded = await seed_template(app, open_reads(4, now, rng))
        dsn = _asyncpg_dsn(settings.resolved_database_url)
        await grow(dsn, closed, 15, unit="1 day")
        await grow(dsn, opened, 12, unit="-1 minute")
        async with app.state.database.transaction() as session:
            ids = {*closed.template, *opened.template}
            stopped = await order_facts(
                session, stopped_from=day, stopped_to=day + timedelta(days=6)
            )
            running = await order_facts(session, open_only=True)
    mine = [f for f in stopped if f.order_id.split("-")[0] in ids]
    assert (closed.size, opened.size) == (15, 12)
    assert len(mine) == 15 and all(f.met is not None for f in mine)
    assert len([f for f in running if f.order_id.split("-")[0] in ids]) == 12

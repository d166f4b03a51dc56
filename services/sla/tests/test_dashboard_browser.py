"""The SLA dashboard in a real headless browser (Debian's chromium, driven by Playwright):
sla served by uvicorn on a loopback port over timelines it recorded, the operator pastes a
token, and the page shows the open orders by time left, compliance by facility and
priority, and a turnaround histogram per priority -- with the numbers the data gives.

The test saves a screenshot (path printed; SLA_DASHBOARD_SCREENSHOT names another place to
copy it, e.g. docs/images/sla-dashboard.png). Without chromium it is skipped -- except
under CI=true, where a missing browser is a failure (`make test` installs it when root).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

import pytest
import uvicorn

from scripts.local_platform import free_ports
from services.sla.app import create_app
from services.sla.tests.timelines import Read, recorded
from shared.fhir.service import now_utc
from shared.settings import ServiceSettings
from tests.fixtures import DEV_TOKEN, running_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def backend() -> str:
    """One database is enough to show the page (the reports' tests run on both)."""
    return "sqlite"


@pytest.fixture
def chromium() -> str:
    if Path(CHROMIUM).exists():
        return CHROMIUM
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is required under CI=true (make test installs it as root)")
    pytest.skip(f"no {CHROMIUM}: install Debian's chromium (make test does, as root)")


def _reads(facility: str, other: str) -> list[Read]:
    now = now_utc()
    ago = lambda minutes: now - timedelta(minutes=minutes)  # noqa: E731
    order = lambda tag: f"{tag}-{uuid4().hex[:8]}"  # noqa: E731
    return [
        # running: past the deadline, 10 minutes left, 3 hours left
        Read(order("late"), ago(90), 60, facility=facility),
        Read(order("soon"), ago(50), 60, facility=facility),
        Read(order("calm"), ago(20), 200, facility=other, priority="routine", modality="MR"),
        # closed in the last day: stat 20 and 45 min (one late), routine 100 min
        Read(order("done"), ago(300), 30, 20, facility=facility),
        Read(order("slow"), ago(240), 30, 45, facility=facility),
        Read(order("read"), ago(600), 240, 100, facility=other, priority="routine"),
    ]


@pytest.fixture
def served_sla(make_settings: Callable[..., ServiceSettings]) -> Iterator[tuple[str, list[Read]]]:
    """sla on a loopback port (uvicorn, in a thread) over recorded timelines."""
    settings = make_settings("sla")
    reads = _reads("Organization/general-hospital", "Organization/valley-clinic")

    async def seed() -> None:
        async with running_app("sla", settings) as app:
            await recorded(app, *reads)

    asyncio.run(seed())
    port = free_ports(["sla"])["sla"]
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("sla did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", reads
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def _screenshot(page: object, directory: Path) -> Path:
    path = directory / "sla-dashboard.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    print(f"dashboard screenshot: {path}")
    copy = os.environ.get("SLA_DASHBOARD_SCREENSHOT")
    if copy:
        shutil.copyfile(path, copy)
        print(f"dashboard screenshot copied to: {copy}")
    return path


def test_the_dashboard_shows_open_orders_compliance_and_turnaround(
    chromium: str, served_sla: tuple[str, list[Read]], tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    origin, reads = served_sla
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=chromium,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1280, "height": 1000},
        )
        try:
            page = context.new_page()
            page.goto(f"{origin}/dashboard")
            page.fill("#token", DEV_TOKEN)
            page.click("button[type=submit]")
            expect(page.locator("body[data-loaded=true]")).to_have_count(1, timeout=15_000)

            open_rows = page.locator("#open-orders tbody tr")
            expect(open_rows).to_have_count(3)
            orders = [f"ServiceRequest/{r.order_id}" for r in reads[:3]]
            assert [open_rows.nth(i).get_attribute("data-order") for i in range(3)] == orders
            assert [open_rows.nth(i).get_attribute("class") for i in range(3)] == [
                "band-breached",
                "band-under-15m",
                "band-1h-4h",
            ]

            stat = page.locator(
                '#compliance tr[data-facility="Organization/general-hospital"][data-priority="stat"]'
            )
            cells = stat.locator("td").all_inner_texts()
            assert cells[2:5] == ["2", "1", "1"]  # closed, met, breached
            assert cells[5].strip() == "50.0%"
            assert cells[6:9] == ["20", "45", "45"]  # p50, p90, p95 (nearest rank)

            charts = page.locator("#histograms figure")
            expect(charts).to_have_count(2)
            stat_bars = page.locator('#histograms figure[data-priority="stat"] rect.count')
            counts = [int(b) for b in stat_bars.evaluate_all("bs => bs.map(b => b.dataset.count)")]
            assert counts == [0, 1, 1, 0, 0, 0, 0, 0, 0]  # 20 min in (15, 30], 45 in (30, 60]
            assert "Patient/" not in page.content()  # orders and facilities, never a patient
            shot = _screenshot(page, tmp_path)
            assert shot.stat().st_size > 10_000
        finally:
            context.close()

"""Fixtures of reporting's tests: reporting and assignment in-process on the test's
databases (see support.py), or the platform's three FHIR services (platform.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from services.reporting.tests.platform import Platform, start_platform
from services.reporting.tests.support import ASSIGNMENT_URL, Services
from shared.settings import ServiceSettings
from tests.fixtures import client_for, start_app


@pytest.fixture
async def services(make_settings: Callable[..., ServiceSettings]) -> AsyncIterator[Services]:
    assignment_app, assignment_manager = await start_app("assignment", make_settings("assignment"))
    reporting_settings = make_settings("reporting", assignment_url=ASSIGNMENT_URL)
    reporting_app, reporting_manager = await start_app("reporting", reporting_settings)
    try:
        async with client_for(assignment_app) as assignment, client_for(reporting_app) as reporting:
            both = Services(assignment, reporting, assignment_app, reporting_app)
            assignment_app.state.peers = both.intake
            await both.reach_assignment_through(httpx.ASGITransport(app=assignment_app))
            yield both
    finally:
        await reporting_manager.__aexit__(None, None, None)
        await assignment_manager.__aexit__(None, None, None)


@pytest.fixture
async def platform(make_settings: Callable[..., ServiceSettings]) -> AsyncIterator[Platform]:
    async for running in start_platform(make_settings):
        yield running

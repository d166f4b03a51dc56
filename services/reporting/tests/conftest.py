"""Fixtures of reporting's tests: the platform's three FHIR services in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from services.reporting.tests.platform import Platform, start_platform
from shared.settings import ServiceSettings


@pytest.fixture
async def platform(make_settings: Callable[..., ServiceSettings]) -> AsyncIterator[Platform]:
    async for running in start_platform(make_settings):
        yield running

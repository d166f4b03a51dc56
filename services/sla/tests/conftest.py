"""Fixtures of the sla service's tests: the app on this test's database (SQLite or
PostgreSQL, see tests/fixtures.py) and a FHIR client of it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI

from shared.settings import ServiceSettings
from tests.fixtures import client_for, running_app


@pytest.fixture
async def sla_app(make_settings: Callable[..., ServiceSettings]) -> AsyncIterator[FastAPI]:
    async with running_app("sla", make_settings("sla")) as app:
        yield app


@pytest.fixture
async def sla(sla_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An authenticated FHIR client of the sla service (its event endpoints too)."""
    async with client_for(sla_app) as http:
        yield http

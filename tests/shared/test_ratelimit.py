"""Rate limits per client: a burst past the limit is 429 with Retry-After, other clients go
on, the bucket refills with time, failed logins are limited per address, and a flood of
distinct clients cannot grow memory without bound."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI, Request

from services.sla.consumers import CONSUMPTIONS as SLA_CONSUMPTIONS
from shared import auth
from shared.auth import Principal
from shared.events.consumer import EVENTS_PATH
from shared.events.delivery import SIGNATURE_HEADER
from shared.fhir.outcomes import unauthorized
from shared.ratelimit import RateLimiter, TokenBuckets
from shared.settings import ServiceSettings
from tests.fixtures import AUTH, client_for, running_app
from tests.support.rest import assert_outcome


class FakeClock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def facility_token(client_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer facility:{client_id}"}


async def facility_principals(request: Request) -> Principal:
    """Stands in for `authenticate`'s identification with facility clients (`Bearer facility:<client id>`),
    which the development credential -- the platform's own role, not limited -- is not."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    kind, _, client_id = token.partition(":")
    if scheme != "Bearer" or kind != "facility" or not client_id:
        raise unauthorized("The bearer token is not valid")
    return Principal(
        client_id=client_id,
        scopes=frozenset({"system/*.cruds"}),
        role="facility",
        organizations=frozenset({f"Organization/{client_id}"}),
    )


@pytest.fixture
async def limited_app(
    make_settings: Callable[..., ServiceSettings], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[FastAPI]:
    """Intake allowing 3 requests at once, then 1 a second, per client, on a fake clock."""
    monkeypatch.setattr(auth, "_identify", facility_principals)
    settings = make_settings("intake", rate_limit_per_second=1.0, rate_limit_burst=3)
    async with running_app("intake", settings) as app:
        yield app


@pytest.fixture
def clock(limited_app: FastAPI) -> FakeClock:
    fake = FakeClock()
    limiter = limited_app.state.rate_limiter
    assert isinstance(limiter, RateLimiter)
    limited_app.state.rate_limiter = RateLimiter(
        clients=TokenBuckets(rate=limiter.clients.rate, burst=limiter.clients.burst, clock=fake),
        addresses=TokenBuckets(
            rate=limiter.addresses.rate, burst=limiter.addresses.burst, clock=fake
        ),
    )
    return fake


async def _statuses(client: httpx.AsyncClient, times: int) -> list[int]:
    return [(await client.get("/Patient")).status_code for _ in range(times)]


# -- through the API ----------------------------------------------------------------------


async def test_a_burst_past_the_limit_is_429_with_retry_after(limited_app: FastAPI) -> None:
    async with client_for(limited_app, headers=facility_token("a")) as client:
        assert await _statuses(client, 3) == [200, 200, 200]
        refused = await client.get("/Patient")

    assert_outcome(refused, 429, code="throttled")
    assert refused.headers["retry-after"] == "1"


async def test_one_clients_burst_leaves_another_client_unaffected(limited_app: FastAPI) -> None:
    async with (
        client_for(limited_app, headers=facility_token("a")) as first,
        client_for(limited_app, headers=facility_token("b")) as second,
    ):
        assert await _statuses(first, 4) == [200, 200, 200, 429]
        assert await _statuses(second, 3) == [200, 200, 200]


async def test_the_bucket_refills_at_the_configured_rate(
    limited_app: FastAPI, clock: FakeClock
) -> None:
    async with client_for(limited_app, headers=facility_token("a")) as client:
        assert await _statuses(client, 4) == [200, 200, 200, 429]
        clock.now += 0.5
        refused = await client.get("/Patient")
        assert refused.headers["retry-after"] == "1"  # half a second, rounded up
        clock.now += 1.0
        assert await _statuses(client, 2) == [200, 429]
        clock.now += 60.0  # idle: full again, never more than the burst
        assert await _statuses(client, 4) == [200, 200, 200, 429]


async def test_retry_after_counts_whole_seconds_to_the_next_token(
    make_settings: Callable[..., ServiceSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth, "_identify", facility_principals)
    settings = make_settings("intake", rate_limit_per_second=0.25, rate_limit_burst=1)
    async with (
        running_app("intake", settings) as app,
        client_for(app, headers=facility_token("a")) as client,
    ):
        assert await _statuses(client, 1) == [200]
        refused = await client.get("/Patient")

    assert_outcome(refused, 429)
    assert 3 <= int(refused.headers["retry-after"]) <= 4


async def test_failed_authentication_is_limited_per_address(limited_app: FastAPI) -> None:
    async with client_for(limited_app, headers={"Authorization": "Bearer guessed"}) as guesser:
        statuses = await _statuses(guesser, 4)
    async with client_for(limited_app, headers=facility_token("a")) as client:
        allowed = await _statuses(client, 3)  # the same address, with a valid token

    assert statuses == [401, 401, 401, 429]
    assert allowed == [200, 200, 200]


async def test_unsigned_notifications_are_limited_per_address(
    make_settings: Callable[..., ServiceSettings],
) -> None:
    settings = make_settings("sla", rate_limit_per_second=1.0, rate_limit_burst=3)
    url = f"http://testserver{EVENTS_PATH}/{SLA_CONSUMPTIONS[0].name}"
    headers = {"Content-Type": "application/fhir+json", SIGNATURE_HEADER: "t=1,v1=00"}
    async with running_app("sla", settings) as app, client_for(app, headers=headers) as client:
        statuses = [(await client.post(url, content=b"{}")).status_code for _ in range(4)]

    assert statuses == [401, 401, 401, 429]


async def test_the_platforms_own_services_are_not_limited(
    make_settings: Callable[..., ServiceSettings],
) -> None:
    settings = make_settings("intake", rate_limit_per_second=1.0, rate_limit_burst=1)
    async with running_app("intake", settings) as app, client_for(app, headers=AUTH) as client:
        assert set(await _statuses(client, 5)) == {200}


async def test_zero_turns_the_limit_off(make_settings: Callable[..., ServiceSettings]) -> None:
    settings = make_settings("intake", rate_limit_per_second=0)
    async with running_app("intake", settings) as app:
        assert app.state.rate_limiter is None


# -- the buckets --------------------------------------------------------------------------


def test_a_bucket_allows_its_burst_then_one_request_per_refill() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(rate=2.0, burst=2, clock=clock)

    assert [buckets.take("a"), buckets.take("a")] == [0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)
    clock.now += 0.5
    assert buckets.take("a") == 0.0
    assert buckets.take("a") == pytest.approx(0.5)


def test_a_flood_of_distinct_clients_keeps_at_most_max_keys_buckets() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(rate=1.0, burst=5, max_keys=1000, clock=clock)

    for number in range(50_000):
        buckets.take(f"client-{number}")

    assert len(buckets) == 1000


def test_idle_buckets_are_forgotten_once_full_again() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(rate=1.0, burst=5, clock=clock)
    for number in range(100):
        buckets.take(f"client-{number}")

    clock.now += 5.0  # burst / rate: every one of them is full again
    buckets.take("newcomer")

    assert len(buckets) == 1


def test_a_busy_client_keeps_its_bucket_while_the_idle_are_evicted() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(rate=1.0, burst=2, max_keys=10, clock=clock)
    buckets.take("busy")
    buckets.take("busy")
    for number in range(20):
        buckets.take(f"passer-by-{number}")
        assert buckets.take("busy") > 0  # still empty: its bucket was not reset

    assert len(buckets) <= 10

"""Assertion ids are kept until their assertion expires: a used one is refused, an expired
one's row is removed when the next assertion is claimed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from shared.db import Database
from shared.settings import ServiceSettings
from shared.smart.replay import auth_used_assertion, claim_assertion


async def test_a_used_id_is_refused_and_expired_ones_are_removed(
    make_settings: Callable[..., ServiceSettings],
) -> None:
    database = Database(make_settings("intake").resolved_database_url)
    now = datetime.now(UTC)
    try:
        async with database.transaction() as session:
            assert await claim_assertion(
                session, client_id="c", jti="old", expires_at=now - timedelta(seconds=1), now=now
            )
            assert await claim_assertion(
                session, client_id="c", jti="new", expires_at=now + timedelta(minutes=5), now=now
            )
        async with database.transaction() as session:
            used = await claim_assertion(
                session, client_id="c", jti="new", expires_at=now + timedelta(minutes=5), now=now
            )
            other_client = await claim_assertion(
                session, client_id="d", jti="new", expires_at=now + timedelta(minutes=5), now=now
            )
            kept = await session.scalar(
                select(func.count())
                .select_from(auth_used_assertion)
                .where(auth_used_assertion.c.client_id.in_(["c", "d"]))
            )
    finally:
        await database.dispose()

    assert not used
    assert other_client  # ids are per client
    assert kept == 2  # "old" expired and was removed

"""Page size, totals, sorting and paging by Bundle links (FHIR R4 search 3.1.1.5, 3.1.1.6).

Pages are keyset-based: following `next` while others create and delete never shows a
resource twice nor skips one that existed throughout.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable

import httpx
import orjson
import pytest

from services.intake.tests.builders import named, patients
from shared.settings import ServiceSettings
from tests.fixtures import client_for, start_app
from tests.support.rest import (
    assert_outcome,
    delete,
    follow,
    ids_of,
    links,
    match_ids,
    query_of,
    search,
)


@pytest.fixture
async def small_pages_client(
    make_settings: Callable[..., ServiceSettings],
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of intake configured for pages of 3 by default and at most 5."""
    settings = make_settings("intake", search_default_count=3, search_max_count=5)
    app, manager = await start_app("intake", settings)
    try:
        async with client_for(app) as http:
            yield http
    finally:
        await manager.__aexit__(None, None, None)


async def _pages(
    client: httpx.AsyncClient, bundle: dict, relation: str = "next"
) -> AsyncIterator[dict]:
    """`bundle`, then every page reached by following `relation` links."""
    yield bundle
    for _ in range(50):
        url = links(bundle).get(relation)
        if url is None:
            return
        bundle = await follow(client, url)
        yield bundle
    raise AssertionError(f"more than 50 pages following {relation}")


# -- page size and totals -------------------------------------------------------------


async def test_count_sets_the_page_size_and_total_counts_every_match(
    client: httpx.AsyncClient,
) -> None:
    await patients(client, *({"gender": "female"} for _ in range(5)), {"gender": "male"})

    bundle = await search(client, "Patient", {"gender": "female", "_count": "2"})

    assert len(match_ids(bundle)) == 2
    assert bundle["total"] == 5
    assert "next" in links(bundle)
    assert "previous" not in links(bundle)


async def test_server_caps_page_size_at_its_maximum(
    small_pages_client: httpx.AsyncClient,
) -> None:
    await patients(small_pages_client, *({} for _ in range(7)))

    default = await search(small_pages_client, "Patient")
    capped = await search(small_pages_client, "Patient", {"_count": "50"})

    assert len(match_ids(default)) == 3
    assert len(match_ids(capped)) == 5
    assert capped["total"] == 7
    # the self link states the page size actually used, and so do the paging links
    assert ("_count", "5") in query_of(links(capped)["self"])
    last = await follow(small_pages_client, links(capped)["next"])
    assert len(match_ids(last)) == 2


async def test_summary_count_returns_the_total_without_entries(client: httpx.AsyncClient) -> None:
    await patients(client, {"gender": "female"}, {"gender": "female"}, {"gender": "male"})

    bundle = await search(client, "Patient", {"gender": "female", "_summary": "count"})

    assert bundle["total"] == 2
    assert "entry" not in bundle  # FHIR JSON has no empty arrays
    assert "next" not in links(bundle)


async def test_empty_result_has_total_zero_and_no_entry_array(client: httpx.AsyncClient) -> None:
    bundle = await search(client, "Patient", {"family": "nobody"})

    assert bundle["total"] == 0
    assert "entry" not in bundle


async def test_total_is_on_the_first_page_and_on_later_pages_when_asked(
    client: httpx.AsyncClient,
) -> None:
    await patients(client, *({} for _ in range(5)))

    first = await search(client, "Patient", {"_count": "2"})
    accurate_first = await search(client, "Patient", {"_count": "2", "_total": "accurate"})
    accurate_second = await follow(client, links(accurate_first)["next"])
    none = await search(client, "Patient", {"_count": "2", "_total": "none"})

    assert first["total"] == 5
    assert accurate_first["total"] == 5
    assert accurate_second["total"] == 5
    assert "total" not in none


# -- sorting ---------------------------------------------------------------------------


async def _dated_and_named(client: httpx.AsyncClient) -> list[dict]:
    return await patients(
        client,
        {"birthDate": "1985-06-01", "name": named("Carter")},
        {"name": named("Baker")},  # no birth date
        {"birthDate": "1960-01-15", "name": named("Davis")},
        {"birthDate": "1972-11-30"},  # no name
        {"birthDate": "1999-02-02", "name": named("Adams")},
    )


async def test_sort_by_date_ascending_and_descending_puts_missing_last(
    client: httpx.AsyncClient,
) -> None:
    carter, baker, davis, unnamed, adams = await _dated_and_named(client)

    ascending = await search(client, "Patient", {"_sort": "birthdate"})
    descending = await search(client, "Patient", {"_sort": "-birthdate"})

    assert match_ids(ascending) == [p["id"] for p in (davis, unnamed, carter, adams, baker)]
    assert match_ids(descending) == [p["id"] for p in (adams, carter, unnamed, davis, baker)]


async def test_sort_by_string_ascending_and_descending_puts_missing_last(
    client: httpx.AsyncClient,
) -> None:
    carter, baker, davis, unnamed, adams = await _dated_and_named(client)

    ascending = await search(client, "Patient", {"_sort": "family"})
    descending = await search(client, "Patient", {"_sort": "-family"})

    assert match_ids(ascending) == [p["id"] for p in (adams, baker, carter, davis, unnamed)]
    assert match_ids(descending) == [p["id"] for p in (davis, carter, baker, adams, unnamed)]


async def test_sort_by_id_ascending_and_descending(client: httpx.AsyncClient) -> None:
    ids = [p["id"] for p in await patients(client, *({} for _ in range(5)))]

    ascending = await search(client, "Patient", {"_sort": "_id"})
    descending = await search(client, "Patient", {"_sort": "-_id"})

    assert match_ids(ascending) == sorted(ids)
    assert match_ids(descending) == sorted(ids, reverse=True)


async def test_later_sort_keys_break_ties_of_earlier_ones(client: httpx.AsyncClient) -> None:
    older_smith, younger_smith, jones = await patients(
        client,
        {"birthDate": "1950-01-01", "name": named("Smith")},
        {"birthDate": "1990-01-01", "name": named("Smith")},
        {"birthDate": "1970-01-01", "name": named("Jones")},
    )

    bundle = await search(client, "Patient", {"_sort": "family,-birthdate"})

    assert match_ids(bundle) == [p["id"] for p in (jones, younger_smith, older_smith)]


# -- paging by links -------------------------------------------------------------------


@pytest.mark.parametrize("sort", [None, "-birthdate", "family"])
async def test_next_then_previous_visit_every_match_once_in_order(
    client: httpx.AsyncClient, sort: str | None
) -> None:
    # Shared birth dates and names make ties that paging must break consistently.
    await patients(
        client,
        *({"birthDate": f"19{60 + i % 3}-01-01", "name": named(f"Name{i % 4}")} for i in range(7)),
        {},
    )
    params = {"_sort": sort} if sort else {}
    everything = match_ids(await search(client, "Patient", {**params, "_count": "100"}))

    forward = [
        p async for p in _pages(client, await search(client, "Patient", {**params, "_count": "3"}))
    ]
    backward = [p async for p in _pages(client, forward[-1], "previous")]

    assert [len(match_ids(p)) for p in forward] == [3, 3, 2]
    assert [i for p in forward for i in match_ids(p)] == everything
    assert [match_ids(p) for p in reversed(backward)] == [match_ids(p) for p in forward]
    assert "previous" not in links(forward[0])
    assert "next" not in links(forward[-1])


@pytest.mark.parametrize("sort", [None, "family", "-_id"])
async def test_paging_stays_correct_while_others_create_and_delete(
    client: httpx.AsyncClient, sort: str | None
) -> None:
    originals = await patients(client, *({"name": named(f"M{i}")} for i in range(8)))
    params = {"_count": "3", **({"_sort": sort} if sort else {})}
    first = await search(client, "Patient", params)
    seen = match_ids(first)

    unseen = [p for p in originals if p["id"] not in seen]
    deleted = unseen[len(unseen) // 2]
    await delete(client, deleted)
    await patients(client, {"name": named("A-first")}, {"name": named("Z-last")}, {})
    for page in [p async for p in _pages(client, first)][1:]:
        seen += match_ids(page)

    assert len(seen) == len(set(seen)), "a resource was shown twice"
    assert ids_of(*originals) - {deleted["id"]} <= set(seen), "a resource was skipped"
    assert deleted["id"] not in seen


async def test_tampered_page_token_is_refused(client: httpx.AsyncClient) -> None:
    await patients(client, *({} for _ in range(4)))
    first = await search(client, "Patient", {"_count": "2"})
    token = dict(query_of(links(first)["next"]))["_page"]
    payload = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))

    def encoded(changed: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps({**payload, **changed}).encode()).decode()

    for tampered in (
        token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB"),
        "not-a-token",
        encoded({"v": ["not-a-number"]}),
        encoded({"v": [{"a": 1}]}),
        encoded({"v": []}),
        encoded({"v": [2**70]}),
        encoded({"q": "0" * 16}),
    ):
        response = await client.get("/Patient", params={"_count": "2", "_page": tampered})

        assert_outcome(response, 400, mentions="_page")


async def test_page_token_with_a_sort_value_of_the_wrong_type_is_refused(
    client: httpx.AsyncClient,
) -> None:
    await patients(client, *({"name": named(f"P{i}"), "birthDate": "1980-01-01"} for i in range(3)))
    params = {"_count": "2", "_sort": "family,birthdate"}
    first = await search(client, "Patient", params)
    token = dict(query_of(links(first)["next"]))["_page"]
    payload = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    # Sort values: (family missing?, family, birthdate missing?, birthdate, row key).
    valid = payload["v"]
    assert len(valid) == 5

    for position, wrong in ((1, 7), (3, "not a date"), (4, "1"), (1, "a\x00"), (0, 2)):
        values = [*valid[:position], wrong, *valid[position + 1 :]]
        tampered = base64.urlsafe_b64encode(orjson.dumps({**payload, "v": values})).decode()
        response = await client.get("/Patient", params={**params, "_page": tampered})

        assert_outcome(response, 400, mentions="_page")


async def test_page_token_of_another_search_is_refused(client: httpx.AsyncClient) -> None:
    await patients(client, *({"gender": "female"} for _ in range(3)))
    first = await search(client, "Patient", {"gender": "female", "_count": "2"})
    token = dict(query_of(links(first)["next"]))["_page"]

    for other in (
        {"gender": "male", "_count": "2"},
        {"gender": "female", "_count": "2", "_sort": "family"},
    ):
        response = await client.get("/Patient", params={**other, "_page": token})

        assert_outcome(response, 400, mentions="_page")
    response = await client.get("/Organization", params={"_count": "2", "_page": token})
    assert_outcome(response, 400, mentions="_page")

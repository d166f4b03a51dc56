"""How a search is asked and echoed: POST _search with a form body, and the self link."""

from __future__ import annotations

import httpx

from services.intake.tests.builders import named, patients
from tests.support.rest import assert_outcome, follow, links, match_ids, query_of, search, searchset

FORM = "application/x-www-form-urlencoded"


async def test_post_search_with_a_form_body_gives_the_same_results_as_get(
    client: httpx.AsyncClient,
) -> None:
    await patients(
        client,
        {"name": named("Smith"), "gender": "female", "birthDate": "1980-01-01"},
        {"name": named("Smithers"), "gender": "female", "birthDate": "1970-01-01"},
        {"name": named("Smith"), "gender": "male"},
        {"name": named("Jones"), "gender": "female"},
    )
    params = {"family": "smith", "gender": "female", "_sort": "birthdate", "_count": "1"}

    got = await search(client, "Patient", params)
    posted = searchset(await client.post("/Patient/_search", data=params))

    assert match_ids(posted) == match_ids(got)
    assert posted["total"] == got["total"] == 2
    assert links(posted)["self"] == links(got)["self"]
    # its next link is an ordinary GET that continues the same search
    assert match_ids(await follow(client, links(posted)["next"])) == match_ids(
        await follow(client, links(got)["next"])
    )


async def test_post_search_combines_url_and_body_parameters(client: httpx.AsyncClient) -> None:
    smith, _ = await patients(
        client,
        {"name": named("Smith"), "gender": "female"},
        {"name": named("Smith"), "gender": "male"},
    )

    response = await client.post(
        "/Patient/_search", params={"gender": "female"}, data={"family": "smith"}
    )

    assert match_ids(searchset(response)) == [smith["id"]]


async def test_post_search_without_a_form_body_is_refused(client: httpx.AsyncClient) -> None:
    for body in (
        {"json": {"family": "smith"}},
        {"content": b"family=smith", "headers": {"Content-Type": "text/plain"}},
    ):
        response = await client.post("/Patient/_search", **body)  # type: ignore[arg-type]

        assert_outcome(response, 400)


async def test_self_link_states_the_parameters_used(client: httpx.AsyncClient) -> None:
    params = [
        ("family", "smith"),
        ("gender:not", "male"),
        ("birthdate", "ge1970-01-01"),
        ("_sort", "-birthdate"),
        ("_count", "2"),
    ]

    bundle = await search(client, "Patient", [*params, ("_format", "json")])

    self_link = links(bundle)["self"]
    assert self_link.startswith("http://testserver/fhir/Patient?")
    assert sorted(query_of(self_link)) == sorted(params)


async def test_self_link_leaves_out_parameters_ignored_by_lenient_handling(
    client: httpx.AsyncClient,
) -> None:
    bundle = await search(
        client,
        "Patient",
        [("family", "smith"), ("shoe-size", "42"), ("gender:fuzzy", "f")],
        headers={"Prefer": "handling=lenient"},
    )

    assert query_of(links(bundle)["self"]) == [("family", "smith")]

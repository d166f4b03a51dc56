"""A registration's conditional references made literal when a token is issued.

Ids are assigned by the server, so a registry names organizations and users by identifier
(`Organization?identifier=<system>|<value>`). The token endpoint's service looks each one
up in its own store when it keeps that type (intake keeps Organization), else asks the
service that does (`owners`, e.g. Practitioner at assignment) over FHIR REST. Exactly one
match is required: a registration naming nothing, or something ambiguous, gets no token.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl

from fastapi import Request

from shared.auth import Principal
from shared.fhir.api import fhir_session
from shared.peers import PeerUnavailable
from shared.smart.errors import invalid_client, temporarily_unavailable

# Who looks registrations up: the platform itself, searching the types they name.
RESOLVER = Principal(client_id="token-endpoint", scopes=frozenset({"system/*.s"}))


async def _local_ids(request: Request, resource_type: str, query: str) -> list[str]:
    async with fhir_session(request, RESOLVER) as fhir:
        return [stored.id for stored in await fhir.match_ids(resource_type, query)]


async def _remote_ids(request: Request, service: str, resource_type: str, query: str) -> list[str]:
    params = dict(parse_qsl(query, keep_blank_values=True)) | {"_count": "2"}
    try:
        found = await request.app.state.peers.search(service, resource_type, params)
    except PeerUnavailable:
        raise temporarily_unavailable(f"The {service} service cannot be asked; retry") from None
    return [str(resource["id"]) for resource in found]


async def resolve_reference(request: Request, reference: str, *, owners: Mapping[str, str]) -> str:
    """`reference` as `Type/<id>`: literal ones as they are, conditional ones looked up."""
    resource_type, conditional, query = reference.partition("?")
    if not conditional:
        return reference
    if request.app.state.registry.get(resource_type) is not None:
        ids = await _local_ids(request, resource_type, query)
    elif resource_type in owners:
        ids = await _remote_ids(request, owners[resource_type], resource_type, query)
    else:
        raise invalid_client(f"The client's registered {resource_type} cannot be looked up here")
    if len(ids) != 1:
        raise invalid_client(f"The client's registered {resource_type} is not known (or not one)")
    return f"{resource_type}/{ids[0]}"

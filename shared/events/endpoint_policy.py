"""Which URLs a rest-hook Subscription may deliver to (server-side request forgery guard).

A subscriber chooses `Subscription.channel.endpoint`, and this server then POSTs to it, so
an endpoint is untrusted input aimed at our own network: the cluster's services, the cloud
metadata service, the loopback interface. An endpoint is refused unless it is https (or
http when the policy allows it), carries no credentials, is not a cluster-internal name,
resolves, and every address it resolves to is publicly routable, on an allowed (web) port
-- or the operator allowed the host or network explicitly.

The address check runs when a Subscription is created (`check_endpoint`) and again before
every delivery (`resolve_and_check`), whose checked address the delivery then connects to:
a name that resolved to a public address yesterday may resolve to 169.254.169.254 today
(DNS rebinding), and a second, unchecked lookup at connect time would reopen that door.

The URL is parsed with httpx, the library that sends the request, so the host checked here
is the host connected to (two URL parsers that disagree are a classic bypass).
Messages never echo the URL: it may carry a token in its path or query.

This module is named for what it holds rather than `endpoints.py`, which in this code base
means FastAPI route handlers.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

import httpx

from shared.fhir.outcomes import business_rule

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ENDPOINT_EXPRESSION = "Subscription.channel.endpoint"

# Cloud instance metadata services (AWS/GCP/Azure/OpenStack, AWS IPv6, Alibaba).
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),
        ipaddress.ip_address("fd00:ec2::254"),
        ipaddress.ip_address("100.100.100.200"),
    }
)

# Names that only mean something inside a cluster or on a host.
_INTERNAL_NAMES = frozenset({"localhost"})
_INTERNAL_SUFFIXES = (".localhost", ".svc", ".cluster.local", ".internal", ".local")

_NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")
# Special-purpose blocks (IANA registries) that `ipaddress` of this Python does not flag in
# every patch release; site-local fec0::/10 is deprecated but still routed inside some sites.
_SPECIAL_PURPOSE: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "192.0.0.0/24",
        "192.88.99.0/24",
        "fec0::/10",
        "3fff::/20",
        "64:ff9b:1::/48",
        "2001::/23",
        "2001:db8::/32",
    )
)
# Web ports a subscriber may listen on, unless the operator lists others.
DEFAULT_ALLOWED_PORTS: frozenset[int] = frozenset({80, 443, 8080, 8443})


@dataclass(frozen=True, slots=True)
class EndpointPolicy:
    """Operator choices for notification endpoints; the default is the strict public one."""

    allow_http: bool = False
    # Exact host names, or "*.example.org" for any name below example.org (not the apex).
    allowed_hosts: frozenset[str] = frozenset()
    # Addresses inside these networks pass the address checks (e.g. 127.0.0.0/8 in tests).
    allowed_networks: tuple[IPNetwork, ...] = ()
    # Ports endpoints may use; allowed hosts and allowed networks may use any.
    allowed_ports: frozenset[int] = DEFAULT_ALLOWED_PORTS
    resolve_timeout_seconds: float = 5.0


@dataclass(frozen=True, slots=True)
class ResolvedEndpoint:
    """An endpoint that passed the policy, with the addresses it was checked against."""

    url: httpx.URL
    addresses: tuple[IPAddress, ...]


class EndpointRefused(Exception):
    """The endpoint may not be used; `diagnostics` for the client, `reason` for operators."""

    def __init__(self, diagnostics: str, reason: str = "endpoint address not allowed") -> None:
        super().__init__(diagnostics)
        self.diagnostics = diagnostics
        self.reason = reason


async def check_endpoint(url: str, policy: EndpointPolicy) -> None:
    """Refuse (422 business-rule on Subscription.channel.endpoint) an endpoint the policy forbids."""
    try:
        await resolve_and_check(url, policy)
    except EndpointRefused as refused:
        raise business_rule(refused.diagnostics, ENDPOINT_EXPRESSION) from None


async def resolve_and_check(url: str, policy: EndpointPolicy) -> ResolvedEndpoint:
    """Parse, resolve and check `url` now; raises EndpointRefused. Deliveries connect to the result."""
    parsed = _parse(url, policy)
    host = _host_name(parsed)
    if _host_allowed(host, policy.allowed_hosts):
        return ResolvedEndpoint(parsed, await _resolve(parsed, policy))
    internal = _is_internal_name(host)
    if internal and not policy.allowed_networks:
        raise EndpointRefused("Subscription endpoint host is a cluster-internal name")
    addresses = await _resolve(parsed, policy)
    unlisted = [a for a in addresses if not _in_networks(a, policy.allowed_networks)]
    if internal and unlisted:
        raise EndpointRefused("Subscription endpoint host is a cluster-internal name")
    for address in unlisted:
        problem = _address_problem(address)
        if problem is not None:
            raise EndpointRefused(f"Subscription endpoint resolves to {problem}")
    if unlisted and _port(parsed) not in policy.allowed_ports:
        raise EndpointRefused(
            "Subscription endpoint port is not allowed", "endpoint port not allowed"
        )
    return ResolvedEndpoint(parsed, addresses)


def _parse(url: str, policy: EndpointPolicy) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise EndpointRefused(
            "Subscription endpoint is not a valid URL", "endpoint URL not allowed"
        ) from None
    # Plain http is for allowed hosts (e.g. the platform's own services inside a cluster)
    # or everywhere when allow_http says so (local runs and tests).
    http_ok = policy.allow_http or (
        parsed.scheme == "http" and _host_allowed(_host_name(parsed), policy.allowed_hosts)
    )
    schemes = ("https", "http") if http_ok else ("https",)
    if parsed.scheme not in schemes:
        wanted = "http or https" if policy.allow_http else "https"
        raise EndpointRefused(
            f"Subscription endpoint must use {wanted}", "endpoint URL not allowed"
        )
    if parsed.userinfo:
        raise EndpointRefused(
            "Subscription endpoint must not contain user credentials", "endpoint URL not allowed"
        )
    if not parsed.raw_host:
        raise EndpointRefused("Subscription endpoint has no host", "endpoint URL not allowed")
    return parsed


def _host_name(url: httpx.URL) -> str:
    """The ASCII (IDNA) host, lower-cased, without the root label's trailing dot."""
    return url.raw_host.decode("ascii").lower().rstrip(".")


def _port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


async def _resolve(url: httpx.URL, policy: EndpointPolicy) -> tuple[IPAddress, ...]:
    """Every address the host resolves to, in resolver order, without duplicates."""
    port = _port(url)
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(policy.resolve_timeout_seconds):
            infos = await loop.getaddrinfo(
                url.raw_host.decode("ascii"),
                port,
                type=socket.SOCK_STREAM,
                proto=socket.IPPROTO_TCP,
            )
    except TimeoutError:
        raise EndpointRefused(
            "Subscription endpoint host did not resolve in time", "endpoint host did not resolve"
        ) from None
    except (OSError, UnicodeError):  # socket.gaierror is an OSError
        raise EndpointRefused(
            "Subscription endpoint host does not resolve", "endpoint host did not resolve"
        ) from None
    addresses: dict[IPAddress, None] = {}
    for family, _type, _proto, _name, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6):
            addresses.setdefault(ipaddress.ip_address(sockaddr[0]), None)
    if not addresses:
        raise EndpointRefused(
            "Subscription endpoint host does not resolve", "endpoint host did not resolve"
        )
    return tuple(addresses)


def _host_allowed(host: str, allowed_hosts: frozenset[str]) -> bool:
    for pattern in allowed_hosts:
        pattern = pattern.lower().rstrip(".")
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]):
                return True
        elif host == pattern:
            return True
    return False


def _is_internal_name(host: str) -> bool:
    """localhost, Kubernetes service names, *.internal, and single-label names (which a
    resolver completes with the cluster's search domains)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return False
    return host in _INTERNAL_NAMES or host.endswith(_INTERNAL_SUFFIXES) or "." not in host


def _in_networks(address: IPAddress, networks: tuple[IPNetwork, ...]) -> bool:
    return any(address in network for network in networks)  # False across IP versions


def _address_problem(address: IPAddress) -> str | None:
    """Why `address` may not receive notifications (e.g. "a loopback address"), or None."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return _address_problem(embedded)
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    checks = (
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_unspecified, "an unspecified address"),
        (address.is_multicast, "a multicast address"),
        (address.is_reserved, "a reserved address"),
        (address.is_private, "a private address"),
        (not address.is_global, "an address that is not publicly routable"),
        (_in_networks(address, _SPECIAL_PURPOSE), "a special-purpose address"),
    )
    return next((problem for failed, problem in checks if failed), None)


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside an IPv4-mapped, 6to4 or NAT64 address: the one reached."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64_PREFIX:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None

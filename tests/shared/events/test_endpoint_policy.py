"""Which notification endpoints may be used: the URL and address policy, checked when a
Subscription is stored and again before every delivery."""

from __future__ import annotations

import ipaddress
import time

import pytest

from shared.events.delivery import (
    EndpointPolicy,
    check_endpoint,
    resolve_and_check,
)
from shared.fhir.outcomes import FhirError
from tests.support.endpoints import LOCAL, LOOPBACK, STRICT, FakeDns

# No test here may reach a real resolver.
pytestmark = pytest.mark.usefixtures("dns")


async def _refusal(url: str, policy: EndpointPolicy = STRICT) -> str:
    with pytest.raises(FhirError) as caught:
        await check_endpoint(url, policy)
    error = caught.value
    assert error.status == 422
    [issue] = error.issues
    assert (issue.code, issue.expression) == ("business-rule", ("Subscription.channel.endpoint",))
    return issue.diagnostics


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://93.184.216.34/hook", "must use https"),
        ("ftp://93.184.216.34/hook", "must use https"),
        ("file:///etc/passwd", "must use https"),
        ("https://user:pw@93.184.216.34/hook", "user credentials"),
        ("https://127.0.0.1/hook", "loopback"),
        ("https://127.9.9.9:8443/hook", "loopback"),
        ("https://0x7f.1/hook", "loopback"),  # 127.0.0.1 as inet_aton reads it
        ("https://2130706433/hook", "cluster-internal name"),  # 127.0.0.1; one label
        ("https://[::1]/hook", "loopback"),
        ("https://[::ffff:127.0.0.1]/hook", "loopback"),  # IPv4-mapped
        ("https://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("https://[fd00:ec2::254]/", "cloud metadata"),
        ("https://100.100.100.200/", "cloud metadata"),
        ("https://[64:ff9b::a9fe:a9fe]/", "cloud metadata"),  # NAT64 of 169.254.169.254
        ("https://169.254.10.10/", "link-local"),
        ("https://[fe80::1]/", "link-local"),
        ("https://10.1.2.3/", "private"),
        ("https://172.16.0.1/", "private"),
        ("https://192.168.1.20/", "private"),
        ("https://[fc00::1]/", "private"),
        ("https://[fd12:3456::1]/", "private"),
        ("https://[2002:a01:203::1]/", "private"),  # 6to4 of 10.1.2.3
        ("https://0.0.0.0/", "unspecified"),
        ("https://[::]/", "unspecified"),
        ("https://224.0.0.1/", "multicast"),
        ("https://[ff02::1]/", "multicast"),
        ("https://240.0.0.1/", "reserved"),
        ("https://100.64.0.1/", "not publicly routable"),  # carrier-grade NAT
        ("https://0.1.2.3/", "private"),  # "this network"
        ("https://[::ffff:169.254.169.254]/", "cloud metadata"),  # IPv4-mapped
        ("https://[::127.0.0.1]/", "reserved"),  # IPv4-compatible (deprecated)
        ("https://192.0.0.8/", "special-purpose"),  # IETF protocol assignments
        ("https://192.88.99.1/", "special-purpose"),  # 6to4 relay anycast
        ("https://[fec0::1]/", "special-purpose"),  # site-local (deprecated, still routed)
        ("https://[2001:db8::1]/", "private"),  # documentation
        ("https://93.184.216.34:22/", "port is not allowed"),
        ("https://93.184.216.34:6379/", "port is not allowed"),
        ("https://localhost/hook", "cluster-internal name"),
        ("https://LocalHost./hook", "cluster-internal name"),
        ("https://api.localhost/hook", "cluster-internal name"),
        ("https://intake.svc/hook", "cluster-internal name"),
        ("https://intake.default.svc.cluster.local/hook", "cluster-internal name"),
        ("https://kube-dns.cluster.local/", "cluster-internal name"),
        ("https://metadata.google.internal/", "cluster-internal name"),
        ("https://intake:8000/hook", "cluster-internal name"),  # completed by search domains
        ("https://no-such-host.example/hook", "does not resolve"),
    ],
)
async def test_endpoint_is_refused_naming_the_rule(url: str, rule: str) -> None:
    assert rule in await _refusal(url)


async def test_internal_names_are_refused_without_a_lookup(dns: FakeDns) -> None:
    dns.set("intake.default.svc.cluster.local", ("10.0.0.9",))
    await _refusal("https://intake.default.svc.cluster.local/hook")
    assert dns.lookups == []


async def test_refusal_does_not_echo_the_url_or_its_token() -> None:
    diagnostics = await _refusal("https://10.20.30.40/hook?token=s3cr3t-t0ken")
    assert "s3cr3t" not in diagnostics
    assert "10.20.30.40" not in diagnostics
    assert "hook" not in diagnostics


@pytest.mark.parametrize(
    "answer",
    [("10.0.0.5",), ("93.184.216.34", "10.0.0.5"), ("2606:4700::1", "fe80::1")],
)
async def test_name_is_refused_when_any_address_is_not_public(
    dns: FakeDns, answer: tuple[str, ...]
) -> None:
    dns.set("hooks.example.com", answer)
    assert "resolves to" in await _refusal("https://hooks.example.com/hook")


@pytest.mark.parametrize(
    "url",
    [
        "https://93.184.216.34/hook",
        "https://93.184.216.34:8443/hook?token=x",
        "https://[2606:4700::1]/hook",
        "https://hooks.example.com/notify",
        "https://HOOKS.example.com./notify",
    ],
)
async def test_public_https_endpoint_is_accepted(dns: FakeDns, url: str) -> None:
    dns.set("hooks.example.com", ("93.184.216.34", "2606:4700::1"))
    await check_endpoint(url, STRICT)


async def test_unicode_host_is_resolved_by_its_idna_name(dns: FakeDns) -> None:
    dns.set("xn--bcher-kva.example", ("93.184.216.34",))
    await check_endpoint("https://bücher.example/hook", STRICT)
    assert dns.lookups == ["xn--bcher-kva.example"]


async def test_http_is_accepted_only_when_the_policy_allows_it() -> None:
    await check_endpoint("http://93.184.216.34/hook", EndpointPolicy(allow_http=True))
    assert "http or https" in await _refusal(
        "ftp://93.184.216.34/", EndpointPolicy(allow_http=True)
    )


async def test_http_is_accepted_for_allowed_hosts_only(dns: FakeDns) -> None:
    in_cluster = EndpointPolicy(allowed_hosts=frozenset({"assignment"}))
    dns.set("assignment", ("10.0.0.7",))
    await check_endpoint("http://assignment/events/order-registered", in_cluster)
    assert "must use https" in await _refusal("http://93.184.216.34/hook", in_cluster)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/hook", "http://[::1]:8080/hook", "http://localhost:8080/hook"]
)
async def test_allowed_networks_admit_loopback_for_development(url: str) -> None:
    await check_endpoint(url, LOCAL)


async def test_every_address_must_be_in_the_allowed_networks() -> None:
    only_v4 = EndpointPolicy(allow_http=True, allowed_networks=(LOOPBACK[0],))
    await check_endpoint("http://127.0.0.1:8080/hook", only_v4)
    assert "cluster-internal" in await _refusal("http://localhost:8080/hook", only_v4)  # ::1 too


async def test_allowed_networks_do_not_open_other_private_ranges() -> None:
    assert "private" in await _refusal("http://10.0.0.1/hook", LOCAL)
    assert "cloud metadata" in await _refusal("http://169.254.169.254/", LOCAL)


async def test_allowed_hosts_bypass_the_address_checks(dns: FakeDns) -> None:
    dns.set("receiver.partner.internal", ("10.0.0.7",))
    dns.set("partner.internal", ("10.0.0.8",))
    dns.set("hooks.example.com", ("192.168.0.3",))
    policy = EndpointPolicy(allowed_hosts=frozenset({"*.partner.internal", "hooks.example.com"}))
    await check_endpoint("https://receiver.partner.internal/hook", policy)
    await check_endpoint("https://hooks.example.com/hook", policy)
    assert "cluster-internal" in await _refusal("https://partner.internal/", policy)  # not *.


async def test_allowed_host_must_still_resolve() -> None:
    policy = EndpointPolicy(allowed_hosts=frozenset({"gone.example.com"}))
    assert "does not resolve" in await _refusal("https://gone.example.com/", policy)


async def test_slow_resolver_is_refused_after_the_policy_timeout(dns: FakeDns) -> None:
    dns.set("slow.example.com", ("93.184.216.34",))
    dns.delay = 5.0
    policy = EndpointPolicy(resolve_timeout_seconds=0.05)
    started = time.monotonic()
    assert "in time" in await _refusal("https://slow.example.com/", policy)
    assert time.monotonic() - started < 1.0


async def test_resolve_and_check_returns_the_checked_addresses(dns: FakeDns) -> None:
    dns.set("hooks.example.com", ("93.184.216.34", "2606:4700::1"))
    endpoint = await resolve_and_check("https://hooks.example.com/hook", STRICT)
    assert endpoint.addresses == (
        ipaddress.ip_address("93.184.216.34"),
        ipaddress.ip_address("2606:4700::1"),
    )


async def test_operators_choose_the_ports_public_endpoints_may_use() -> None:
    policy = EndpointPolicy(allowed_ports=frozenset({9443}))
    await check_endpoint("https://93.184.216.34:9443/hook", policy)
    assert "port is not allowed" in await _refusal("https://93.184.216.34/hook", policy)


async def test_allowed_hosts_and_networks_may_use_any_port(dns: FakeDns) -> None:
    dns.set("assignment", ("10.0.0.7",))
    in_cluster = EndpointPolicy(allowed_hosts=frozenset({"assignment"}))
    await check_endpoint("http://assignment:8000/events/order-registered", in_cluster)
    await check_endpoint("http://127.0.0.1:54321/hook", LOCAL)

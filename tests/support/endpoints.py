"""Name lookups for tests of notification endpoints: `FakeDns` answers instead of the
resolver (names it does not know fail, numeric hosts are parsed locally), so no test makes
a real DNS query; and the endpoint policies the tests use."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any

from shared.events.delivery import EndpointPolicy

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
LOCAL = EndpointPolicy(allow_http=True, allowed_networks=LOOPBACK)
STRICT = EndpointPolicy()


class FakeDns:
    """Stands in for the resolver: known names answer from `answers` (one answer per lookup,
    the last one repeating), `localhost` is loopback, anything else must be numeric."""

    def __init__(self) -> None:
        self.answers: dict[str, list[tuple[str, ...]]] = {"localhost": [("127.0.0.1", "::1")]}
        self.lookups: list[str] = []
        self.delay = 0.0

    def set(self, name: str, *answers: tuple[str, ...]) -> None:
        self.answers[name] = list(answers)

    async def getaddrinfo(
        self, real: Any, loop: asyncio.AbstractEventLoop, host: Any, port: Any, **kwargs: Any
    ) -> list[tuple[Any, ...]]:
        name = (host.decode() if isinstance(host, bytes) else str(host)).lower().rstrip(".")
        if name in self.answers:
            self.lookups.append(name)
            await asyncio.sleep(self.delay)
            queue = self.answers[name]
            answer = queue.pop(0) if len(queue) > 1 else queue[0]
            return [_addrinfo(address, int(port or 0)) for address in answer]
        flags = kwargs.pop("flags", 0) | socket.AI_NUMERICHOST  # never a real DNS query
        result: list[tuple[Any, ...]] = await real(loop, host, port, flags=flags, **kwargs)
        return result


def _addrinfo(address: str, port: int) -> tuple[Any, ...]:
    if ipaddress.ip_address(address).version == 6:
        return (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port, 0, 0))
    return (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))

"""The SDK's HTTP connections: many small pools instead of one large one.

httpcore's pool walks every connection it holds each time a request is added or its
response is closed, several checks per connection: with 1,000 calls in flight the walks
took about 30% of a worker's CPU (5.7 ms per request, 4.0 ms with these pools;
``bench/drain_backlog.py``, docs/benchmarks.md). And the SDK's default pool stops at
1,000 connections, whatever the in-flight limit.
``ShardedTransport`` spreads calls over pools of at most ``SHARD_CONNECTIONS``
connections each, and sends each request to the pool with the fewest calls in flight
(the first such pool, so that light traffic keeps reusing a few warm connections).
httpx reads the proxy settings of the environment (``HTTPS_PROXY``, ``NO_PROXY``...)
only for a client without a transport of its own, so the pools take the proxy the
environment names for the API's URL (``environment_proxy``).
"""

from __future__ import annotations

import ipaddress
import math
import socket
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Callable

import httpx2

__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "SHARD_CONNECTIONS",
    "ShardedTransport",
    "environment_proxy",
    "least_busy",
]

DEFAULT_MAX_CONNECTIONS = 1000  # as the SDK's own pool
SHARD_CONNECTIONS = 100

# TCP keep-alive as the SDK sets it on its own transport (a minute-long call must
# survive idle-connection timeouts on the way).
_KEEPALIVE = [
    (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1),
    *(
        (socket.IPPROTO_TCP, option, value)
        for name, value in (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 60), ("TCP_KEEPCNT", 5))
        if (option := getattr(socket, name, None)) is not None
    ),
]


def environment_proxy(url: str) -> str | None:
    """The proxy the environment names for ``url`` (``HTTPS_PROXY``, ``HTTP_PROXY``,
    ``ALL_PROXY``, either case); none for a host ``NO_PROXY`` lists, nor for this machine
    (the embedded stack's simulator)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if _is_loopback(host) or urllib.request.proxy_bypass(host):
        return None
    proxies = urllib.request.getproxies()
    return proxies.get(parts.scheme) or proxies.get("all")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def least_busy(in_flight: list[int]) -> int:
    """The pool to send to: the first of those with the fewest calls in flight."""
    return in_flight.index(min(in_flight))


class ShardedTransport(httpx2.AsyncBaseTransport):
    """At most ``max_connections`` connections, in pools of ``SHARD_CONNECTIONS``, through
    ``proxy`` if one is given."""

    def __init__(self, max_connections: int, proxy: str | None = None) -> None:
        shards = max(1, math.ceil(max_connections / SHARD_CONNECTIONS))
        per_shard = math.ceil(max_connections / shards)
        limits = httpx2.Limits(max_connections=per_shard, max_keepalive_connections=per_shard)
        self.max_connections = per_shard * shards
        tls = httpx2.create_ssl_context()  # one for all: each loads the CA bundle (~20 ms)
        self._shards = [
            httpx2.AsyncHTTPTransport(
                verify=tls, limits=limits, socket_options=_KEEPALIVE, proxy=proxy
            )
            for _ in range(shards)
        ]
        self.in_flight = [0] * shards  # per shard: requests sent, responses not closed

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        index = least_busy(self.in_flight)
        self.in_flight[index] += 1
        try:
            response = await self._shards[index].handle_async_request(request)
        except BaseException:
            self.in_flight[index] -= 1
            raise
        assert isinstance(response.stream, httpx2.AsyncByteStream)
        response.stream = _Releasing(response.stream, lambda: self._release(index))
        return response

    def _release(self, index: int) -> None:
        self.in_flight[index] -= 1

    async def aclose(self) -> None:
        for shard in self._shards:
            await shard.aclose()


class _Releasing(httpx2.AsyncByteStream):
    """A response body that calls ``release`` once, when it is closed."""

    def __init__(self, stream: httpx2.AsyncByteStream, release: Callable[[], None]) -> None:
        self._stream = stream
        self._release: Callable[[], None] | None = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._release is not None:
                self._release, release = None, self._release
                release()

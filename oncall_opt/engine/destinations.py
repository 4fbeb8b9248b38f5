"""Where the daemon may send what people configure through the API (a team's Slack webhook):
an https URL whose host is a public address. Loopback, private, link-local (cloud metadata at
169.254.169.254), shared, multicast and reserved addresses are refused however they are spelled
(`2130706433`, `0x7f000001`, `127.1`, `[::ffff:127.0.0.1]`, `localhost`, a name that resolves
to one of them), so an admin's URL cannot make the daemon probe its own network (SSRF).

The name is resolved when the URL is given and again for every send, and the send connects to
the very address that was checked (`PinnedTransport`): a name that resolves to a public address
when checked and to 127.0.0.1 a moment later (DNS rebinding) gets nothing.

Operators choose: `ONCALL_ALLOW_PRIVATE_WEBHOOKS=true` lets such URLs reach private addresses and
plain http (a Slack proxy inside the network; tests). What the operator sets in the environment
or the secrets file (`ONCALL_SLACK_WEBHOOK_URL`) is trusted as given and never checked here.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

from oncall_opt.errors import InvalidRequestError

Resolver = Callable[[str, int], list[str]]


class DestinationRefused(Exception):
    """The destination is not a public address; the message says why without the address."""


class Unresolvable(DestinationRefused):
    """The host does not resolve (now): worth trying again later."""


class RefusedConnect(httpx.ConnectError):
    """A send refused because its host now resolves to a non-public address: permanent."""


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (the system's resolver, which also reads the legacy
    spellings of IPv4 such as `2130706433`)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def is_public(address: str) -> bool:
    """A global unicast address, and so is every IPv4 address an IPv6 one carries (mapped,
    6to4, Teredo, NAT64: a translator would take the packets there)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    inside: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.is_site_local:
            return False
        inside += [a for a in (ip.ipv4_mapped, ip.sixtofour) if a is not None]
        if ip.teredo is not None:
            inside += list(ip.teredo)
        if any(ip in net for net in NAT64):
            inside.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return all(a.is_global and not a.is_multicast for a in inside)


def public_address(host: str, port: int, resolver: Resolver = resolve) -> str:
    """The first address of `host`, once every address it resolves to has been found public;
    DestinationRefused otherwise."""
    try:
        addresses = resolver(host, port)
    except (OSError, UnicodeError) as exc:
        raise Unresolvable(f"its host does not resolve ({type(exc).__name__})") from None
    if not addresses:
        raise Unresolvable("its host does not resolve")
    if not all(is_public(a) for a in addresses):
        raise DestinationRefused(
            "its host is a loopback, private, link-local or other non-public address "
            "(an operator may allow these with ONCALL_ALLOW_PRIVATE_WEBHOOKS=true)"
        )
    return addresses[0]


def check_url(
    field: str, url: str, allow_private: bool = False, resolver: Resolver = resolve
) -> str:
    """`url` if the daemon may send to it (see the module); InvalidRequestError naming `field`
    otherwise. The message never quotes the URL: it may hold a secret."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidRequestError(field, "is not a valid URL") from None
    schemes = ("http", "https") if allow_private else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        raise InvalidRequestError(
            field, f"must be an {'http(s)' if allow_private else 'https'} URL such as "
            "https://hooks.slack.com/services/...",
        )  # fmt: skip
    if parts.username or parts.password:
        raise InvalidRequestError(field, "must not carry a user name or password before the host")
    if not allow_private:
        try:
            public_address(parts.hostname, port or 443, resolver)
        except DestinationRefused as exc:
            raise InvalidRequestError(field, f"refused: {exc}") from None
    return url


class PinnedTransport(httpx.BaseTransport):
    """Sends each request to the address its host resolves to *now*, once that address is found
    public, keeping the name for the Host header and for TLS (SNI and the certificate's name):
    the address connected to is the one that was checked."""

    def __init__(self, resolver: Resolver = resolve, inner: httpx.BaseTransport | None = None):
        self.resolver = resolver
        self.inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        try:
            address = public_address(host, port, self.resolver)
        except Unresolvable as exc:
            raise httpx.ConnectError(str(exc), request=request) from None
        except DestinationRefused as exc:
            raise RefusedConnect(f"destination refused: {exc}", request=request) from None
        headers = [(k, v) for k, v in request.headers.raw if k.lower() != b"host"]
        pinned = httpx.Request(
            request.method,
            request.url.copy_with(host=address),
            headers=[*headers, (b"Host", request.url.netloc)],
            stream=request.stream,
            extensions={**request.extensions, "sni_hostname": host},
        )
        return self.inner.handle_request(pinned)

    def close(self) -> None:
        self.inner.close()

"""What to trust for HTTPS to a server with a certificate from a private CA: shared by the
client (the daemon's own address) and the PagerDuty bridge (which the daemon also calls), so
that neither depends on the other for it."""

from __future__ import annotations

import ssl


def trust(ca_file: str | None) -> ssl.SSLContext | bool:
    """The CA in `ca_file` (a PEM file) as well as the system's, or the system's alone (True)."""
    if not ca_file:
        return True
    context = ssl.create_default_context()
    context.load_verify_locations(cafile=ca_file)
    return context

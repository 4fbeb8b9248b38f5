"""A POST whose answer is read only as far as the channel needs it: the status, and at most
`MAX_ANSWER` bytes of the body (a server a person names could otherwise answer with gigabytes
that the daemon would hold in memory)."""

from __future__ import annotations

import httpx

MAX_ANSWER = 64 * 1024


def post(client: httpx.Client, url: str, **kwargs) -> httpx.Response:
    """`client.post(url, **kwargs)`, the answer's body cut at `MAX_ANSWER` bytes and closed."""
    with client.stream("POST", url, **kwargs) as response:
        read = 0
        for chunk in response.iter_raw():
            read += len(chunk)
            if read >= MAX_ANSWER:
                break
    return response

"""The sandbox embedded in-process as an httpx transport (no server, no port)."""

from __future__ import annotations

import httpx

from lmsctl.sandbox.app import create_app
from lmsctl.sandbox.config import SandboxConfig
from lmsctl.sandbox.gateway import ConnectionDropped


class SandboxTransport(httpx.ASGITransport):
    """httpx.ASGITransport over the sandbox app, where a dropped connection looks like one.

    The app's "drop the connection" fault becomes ``httpx.RemoteProtocolError``, which is what
    httpx raises when a real server closes the socket without a complete answer.
    """

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except ConnectionDropped as exc:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a complete response.", request=request
            ) from exc


def sandbox_transport(config: SandboxConfig) -> httpx.AsyncBaseTransport:
    """An httpx transport answering from an embedded sandbox (seeded on first use of its db)."""
    return SandboxTransport(app=create_app(config))

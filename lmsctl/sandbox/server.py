"""Run the sandbox on a real socket: ``serve`` for the CLI, ``running_server`` for tests.

``in_thread`` runs any uvicorn server (the tests' fakes too) in a background thread."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from lmsctl.sandbox.app import create_app
from lmsctl.sandbox.config import SandboxConfig
from lmsctl.sandbox.gateway import ConnectionDropped


class _HideDrops(logging.Filter):
    """Keep uvicorn from logging a traceback for each connection dropped on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, ConnectionDropped):
                return False
            exc = exc.__cause__ or exc.__context__
        return True


_HIDE_DROPS = _HideDrops()


def _server(config: SandboxConfig, host: str, port: int, log_level: str) -> uvicorn.Server:
    app = create_app(config)
    uv_config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="off",
        log_level=log_level,
        access_log=False,
        date_header=False,  # the app sends its own Date, read from the sandbox clock
    )
    logging.getLogger("uvicorn.error").addFilter(_HIDE_DROPS)  # adding twice is a no-op
    return uvicorn.Server(uv_config)


def serve(config: SandboxConfig, host: str = "127.0.0.1", port: int = 4010) -> None:
    """Serve the sandbox until interrupted (Ctrl-C)."""
    _server(config, host, port, "info").run()


@contextmanager
def running_server(config: SandboxConfig, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve the sandbox on a free port in a background thread; yields the /v3.1 base URL.

    Stops the server (and waits for it) when the block ends.
    """
    with in_thread(_server(config, host, 0, "warning"), "the sandbox server") as port:
        yield f"http://{host}:{port}/v3.1"


@contextmanager
def in_thread(server: uvicorn.Server, what: str, name: str = "lmsctl-sandbox") -> Iterator[int]:
    """Run ``server`` (listening on port 0) in a background thread; yields the port it got.

    Raises RuntimeError naming ``what`` if it has not started within 10 seconds; stops the
    server (and waits for it) when the block ends.
    """
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start")
        time.sleep(0.01)
    port: int = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)

"""The sandbox web app: Clever's LMS Connect v3.1 and Data API (rostering) on starlette.

The pieces: :mod:`~lmsctl.sandbox.runtime` (store, clock, faults, rate limit, cursors),
:mod:`~lmsctl.sandbox.gateway` (faults, auth and rate limit in front of /v3.0 and /v3.1), the
route groups :mod:`~lmsctl.sandbox.routes_data` (rostering), :mod:`~lmsctl.sandbox.routes_lms`
(assignments and submissions, with :mod:`~lmsctl.sandbox.rules`, the LMS's rules read from its
profile) and :mod:`~lmsctl.sandbox.routes_control` (/_sandbox/), and
:mod:`~lmsctl.sandbox.shapes` (what answers look like).
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lmsctl.sandbox.accesslog import AccessLog
from lmsctl.sandbox.config import SandboxConfig
from lmsctl.sandbox.gateway import Gateway
from lmsctl.sandbox.routes_control import Control
from lmsctl.sandbox.routes_data import DataApi
from lmsctl.sandbox.routes_lms import Coursework
from lmsctl.sandbox.routing import ALL_METHODS
from lmsctl.sandbox.runtime import Sandbox
from lmsctl.sandbox.shapes import message


async def _not_found(request: Request) -> Response:
    return message(404, "Not Found")


def create_app(config: SandboxConfig) -> Starlette:
    """The sandbox as an ASGI app; opens (and seeds, if new) its database right away."""
    sandbox = Sandbox(config)
    data_api = DataApi(sandbox)
    routes: list[Route] = [*data_api.routes("/v3.0"), *data_api.routes("/v3.1")]
    routes += Coursework(sandbox).routes("/v3.1")
    routes += Control(sandbox).routes()
    routes.append(Route("/{path:path}", _not_found, methods=ALL_METHODS))
    middleware = [Middleware(Gateway, sandbox=sandbox)]
    if config.access_log is not None:  # outermost: 429s, faults and drops are logged too
        middleware.insert(0, Middleware(AccessLog, path=config.access_log))
    app = Starlette(routes=routes, middleware=middleware)
    app.state.sandbox = sandbox
    return app


def sandbox_of(app: Starlette) -> Sandbox:
    """The Sandbox behind an app made by create_app (tests and the CLI use it)."""
    sandbox: Sandbox = app.state.sandbox
    return sandbox


__all__ = ["create_app", "sandbox_of"]

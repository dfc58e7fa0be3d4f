"""A local emulator of the Clever API (LMS Connect v3.1 and Data API rostering).

``create_app`` builds the starlette app, ``sandbox_transport`` embeds it in-process for httpx,
``serve`` runs it on a port, ``running_server`` runs it in a thread for tests. See
docs/sandbox.md.
"""

from lmsctl.sandbox.app import create_app
from lmsctl.sandbox.config import (
    DEMO_DISTRICT_ID,
    DEMO_SEED_PATH,
    DEMO_TOKEN,
    FaultConfig,
    SandboxConfig,
)
from lmsctl.sandbox.gateway import ConnectionDropped
from lmsctl.sandbox.seed import generate_seed, load_seed
from lmsctl.sandbox.server import running_server, serve
from lmsctl.sandbox.transport import sandbox_transport

__all__ = [
    "DEMO_DISTRICT_ID",
    "DEMO_SEED_PATH",
    "DEMO_TOKEN",
    "ConnectionDropped",
    "FaultConfig",
    "SandboxConfig",
    "create_app",
    "generate_seed",
    "load_seed",
    "running_server",
    "sandbox_transport",
    "serve",
]

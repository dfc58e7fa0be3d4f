"""lmsctl sandbox: run the local Clever API emulator, make seeds, reset its database."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING

import click

from lmsctl.cli.context import CliContext, pass_cli
from lmsctl.cli.flags import examples
from lmsctl.errors import LmsctlError, UsageError
from lmsctl.lms import LMS_TYPES, LmsType

if TYPE_CHECKING:  # (the sandbox loads starlette: imported by the commands that run it)
    from lmsctl.sandbox import SandboxConfig

_DEFAULT_DB = Path(".lmsctl") / "sandbox.db"


@click.group("sandbox", epilog=examples("lmsctl sandbox serve --port 4010"))
def sandbox() -> None:
    """Run a local emulator of the Clever API (for trying lmsctl and for tests)."""


def _rate(name: str, value: float | None) -> float:
    if value is None:
        return 0.0
    if not 0.0 <= value <= 1.0:
        raise click.BadParameter(f"{name} must be between 0 and 1", param_hint=f"--{name}")
    return value


def _check_port_free(host: str, port: int) -> None:
    """Fail before the banner (and before touching the database) when the port is taken."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
            probe.bind((host, port))
    except OSError as exc:
        raise LmsctlError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint="choose another --port, or stop the program that uses it",
        ) from exc


def _check_writable(path: Path) -> None:
    try:
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise LmsctlError(
            f"cannot write the access log {path}: {exc.strerror or exc}",
            hint="choose another --access-log file, or create its folder first",
        ) from exc


@sandbox.command("serve", epilog=examples("lmsctl sandbox serve --port 4010 --db sandbox.db"))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=4010, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="SQLite file to keep data in (survives restarts) [default: in memory].",
)
@click.option(
    "--seed",
    "seed_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Seed YAML for a new database [default: the built-in demo district].",
)
@click.option(
    "--rate-limit", default=1200, show_default=True, help="Requests per minute per token."
)
@click.option(
    "--latency",
    default=None,
    metavar="SPEC",
    help="Added latency in seconds: 0.2, 0.1-0.5, or per method PATCH=0.3,GET=0-0.1.",
)
@click.option("--fail-rate", type=float, default=None, help="Share of requests answered 5xx.")
@click.option("--fail-status", type=click.IntRange(500, 599), default=503, show_default=True)
@click.option("--drop-rate", type=float, default=None, help="Share of connections dropped unread.")
@click.option(
    "--drop-after-rate",
    type=float,
    default=None,
    help="Share of requests processed, then their connection dropped (answer lost).",
)
@click.option(
    "--fault-methods",
    default="",
    metavar="LIST",
    help="Only these methods get faults, e.g. POST,PATCH [default: all].",
)
@click.option("--random-seed", type=int, default=None, help="Seed for the fault dice and ids.")
@click.option(
    "--access-log",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Append one JSON line per request (method, path, status, times) to this file.",
)
def serve(
    host: str,
    port: int,
    db: Path | None,
    seed_path: Path | None,
    rate_limit: int,
    latency: str | None,
    fail_rate: float | None,
    fail_status: int,
    drop_rate: float | None,
    drop_after_rate: float | None,
    fault_methods: str,
    random_seed: int | None,
    access_log: Path | None,
) -> int:
    """Serve the Clever API sandbox over HTTP until Ctrl-C."""
    # (imported here, not at the top: the sandbox loads starlette and uvicorn, which every other
    # command would pay for at start-up)
    from lmsctl.sandbox import FaultConfig, SandboxConfig, serve
    from lmsctl.sandbox.config import parse_latency

    try:
        faults = FaultConfig(
            latency=parse_latency(latency) if latency else {},
            fail_rate=_rate("fail-rate", fail_rate),
            fail_status=fail_status,
            drop_before_rate=_rate("drop-rate", drop_rate),
            drop_after_rate=_rate("drop-after-rate", drop_after_rate),
            methods=tuple(m.strip().upper() for m in fault_methods.split(",") if m.strip()),
            random_seed=random_seed,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    config = SandboxConfig(
        db_path=db,
        seed_path=seed_path,
        rate_limit=rate_limit,
        faults=faults,
        random_seed=random_seed,
        access_log=access_log,
    )
    _check_port_free(host, port)
    if access_log is not None:
        _check_writable(access_log)
    shown_host = f"[{host}]" if ":" in host else host
    click.echo(f"Clever API sandbox on http://{shown_host}:{port}/v3.1")
    for district_id, name, tokens in _districts(config):
        click.echo(f"  district {district_id} ({name}): token {', '.join(tokens)}")
    click.echo(f"  data: {db if db is not None else 'in memory (lost on exit)'}")
    if access_log is not None:
        click.echo(f"  access log: {access_log}")
    if faults.active:
        click.echo(f"  faults: {faults.to_dict()}")
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(
            "  warning: listening beyond this machine; the sandbox has demo tokens", err=True
        )
    click.echo("  control endpoints under /_sandbox/ (see docs/sandbox.md); Ctrl-C to stop")
    serve(config, host, port)
    return 0


def _districts(config: SandboxConfig) -> list[tuple[str, str, list[str]]]:
    """The districts the server will answer for: a seeded database's own (it may have been
    reset to another seed), else the seed's, which a new database is seeded with."""
    from lmsctl.sandbox import load_seed
    from lmsctl.sandbox.store import Store

    if config.db_path is not None and config.db_path.is_file():
        store = Store(config.db_path)
        try:
            if store.is_seeded():
                return store.district_tokens()
        finally:
            store.close()
    seed = load_seed(config.seed_file)
    return [(d["id"], d["name"], list(d["tokens"])) for d in seed.districts]


@sandbox.command(
    "reset", epilog=examples("lmsctl sandbox reset --db examples/coursework/.lmsctl/sandbox.db")
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="SQLite file to reset [default: --sandbox-db, else .lmsctl/sandbox.db].",
)
@click.option(
    "--seed",
    "seed_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Seed YAML to reset to [default: the built-in demo district].",
)
@pass_cli
def reset(cli: CliContext, db: Path | None, seed_path: Path | None) -> int:
    """Put a sandbox database back to its seed (drops every assignment and grade)."""
    # (imported here to keep start-up light, as in serve)
    from lmsctl.sandbox import SandboxConfig, create_app
    from lmsctl.sandbox.app import sandbox_of

    path = db or (Path(cli.sandbox_db) if cli.sandbox_db else _DEFAULT_DB)
    app = create_app(SandboxConfig(db_path=path, seed_path=seed_path))
    sandbox_of(app).reseed()
    sandbox_of(app).store.close()
    click.echo(f"Sandbox database {path} reset to its seed.")
    return 0


@sandbox.group("seed", epilog=examples("lmsctl sandbox seed generate --sections 20 -o big.yaml"))
def seed() -> None:
    """Make sandbox seed files."""


@seed.command(
    "generate",
    epilog=examples("lmsctl sandbox seed generate --sections 20 --students 30 -o seed.yaml"),
)
@click.option("--districts", default=1, show_default=True, type=click.IntRange(1, 1000))
@click.option(
    "--sections",
    default=4,
    show_default=True,
    type=click.IntRange(0, 100000),
    help="Sections per district.",
)
@click.option(
    "--students",
    default=25,
    show_default=True,
    type=click.IntRange(0, 100000),
    help="Students per section.",
)
@click.option(
    "--lms-type",
    type=click.Choice(LMS_TYPES),
    default=LmsType.CANVAS.value,
    show_default=True,
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="File to write ('-' for stdout).",
)
def generate(districts: int, sections: int, students: int, lms_type: str, output: Path) -> int:
    """Write a synthetic seed (deterministic) for scale tests and benchmarks."""
    # (imported here to keep start-up light, as in serve)
    from lmsctl.sandbox.seed import dump_seed, generate_seed

    text = dump_seed(
        generate_seed(districts=districts, sections=sections, students=students, lms_type=lms_type)
    )
    if str(output) == "-":
        click.echo(text, nl=False)
        return 0
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    total = districts * sections * students
    click.echo(
        f"Wrote {output}: {districts} district(s), {districts * sections} section(s), "
        f"{total} student(s); district 1's token is DEMO_TOKEN."
    )
    return 0

"""Run lmsctl through its real click entry point with click's output capture."""

from __future__ import annotations

from click.testing import CliRunner

from lmsctl.cli import main


def run(*args: str) -> tuple[int, str, str]:
    """Run lmsctl through its real entry point; (exit code, stdout, stderr)."""
    runner = CliRunner()
    with runner.isolation() as (out, err, _):
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        else:  # pragma: no cover - main always exits
            code = 0
        return code, out.getvalue().decode(), err.getvalue().decode()

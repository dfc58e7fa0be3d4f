"""lmsctl ci: one step of the GitOps pipeline, exactly as the GitHub Action (action.yml) runs it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import click

from lmsctl.ci import CiOptions, GitHubContext, Step, run_step
from lmsctl.cli import run
from lmsctl.cli.context import CliContext, pass_cli
from lmsctl.cli.flags import connection_flags, examples
from lmsctl.cli.options import passed_on_lock_timeout_option, root_argument


@click.command(
    "ci",
    epilog=examples(
        "lmsctl ci plan examples/coursework --plan-file lmsctl-plan.json --comment --sandbox",
        "lmsctl ci apply examples/coursework --reviewed-plan lmsctl-plan.json --sandbox",
        title="Examples (in a pull request's job, then after the merge):",
    ),
)
@click.argument("step", type=click.Choice(["validate", "plan", "apply"]))
@root_argument
@click.option(
    "--plan-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("lmsctl-plan.json"),
    show_default=True,
    help="Where plan saves the plan (and apply its fresh plan).",
)
@click.option(
    "--reviewed-plan",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="apply: the plan file saved on the pull request; applied if it still holds.",
)
@click.option(
    "--comment",
    is_flag=True,
    help="plan: keep the plan in one sticky pull-request comment (needs GITHUB_TOKEN).",
)
@passed_on_lock_timeout_option
@pass_cli
def ci(
    cli: CliContext,
    step: str,
    root: Path,
    plan_file: Path,
    reviewed_plan: Path | None,
    comment: bool,
    lock_timeout: str,
) -> int:
    """Run one pipeline STEP (validate, plan or apply) on ROOT, as the GitHub Action does.

    \b
    plan   lmsctl plan ROOT --out PLANFILE --detailed-exitcode; passes on 0 (no changes) and
           2 (changes), fails on any error. The plan goes to the job summary and, with
           --comment, to one pull-request comment updated in place.
    apply  applies --reviewed-plan if it still holds (the same manifests and the same state it
           was made from), else a fresh plan of ROOT as checked out, saved to PLANFILE first.

    Writes outputs (exitcode, has-changes, drift, plan-file, applied) to $GITHUB_OUTPUT and
    the plan to $GITHUB_STEP_SUMMARY when they are set.
    """
    flags = connection_flags(cli)
    if not cli.color:
        flags.append("--no-color")

    def runner(argv: Sequence[str]) -> int:
        line = " ".join(["lmsctl", *argv])
        click.echo(f"::group::{line}" if "GITHUB_ACTIONS" in os.environ else f"$ {line}", err=True)
        try:
            return run([*flags, *argv])
        finally:
            if "GITHUB_ACTIONS" in os.environ:
                click.echo("::endgroup::", err=True)

    options = CiOptions(
        step=Step(step),
        root=root,
        plan_file=plan_file,
        lock_timeout=lock_timeout,
        reviewed_plan=reviewed_plan,
        comment=comment,
        sandbox=cli.sandbox,
    )
    result = run_step(options, runner, GitHubContext.from_environ(os.environ))
    for note in result.notes:
        click.echo(f"lmsctl ci: {note}", err=True)
    if result.code != 0:
        click.echo(
            f"Error: lmsctl ci {step} failed: lmsctl exited {result.lmsctl_code}"
            + (" (plan passes only on 0 and 2)" if step == "plan" else ""),
            err=True,
        )
    return result.code

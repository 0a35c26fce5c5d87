"""The `gavel` command line: serve, evaluate, validate, replay, schema, init (and the stream worker)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from gavel.engine.cases import (
    CaseFile,
    ReplayReport,
    case_files,
    functionality_table,
    load_case_file,
    replay,
)
from gavel.engine.evaluator import Evaluator
from gavel.engine.loader import load_policy_file, policy_files
from gavel.engine.results import EvaluationResult, Verdict
from gavel.engine.schema import Policy
from gavel.errors import GavelError, PolicyError
from gavel.runtime import build_runtime
from gavel.settings import Settings

app = typer.Typer(
    help="Gavel: evaluate posts against versioned moderation policies.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

PolicyDirOpt = Annotated[Path | None, typer.Option("--policy-dir", help="directory of policy YAML files")]
ModelsOpt = Annotated[
    str | None,
    typer.Option("--models", help="models to load, e.g. 'profanity,minilm'; '' for none"),
]


def _settings(policy_dir: Path | None = None, models: str | None = None) -> Settings:
    overrides: dict[str, Any] = {}
    if policy_dir is not None:
        overrides["policy_dir"] = policy_dir
    if models is not None:
        overrides["models"] = models
    return Settings(**overrides)


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    workers: Annotated[
        int | None, typer.Option(help="worker processes (default GAVEL_SERVE_WORKERS, 1); one per core uses them all")
    ] = None,
    policy_dir: PolicyDirOpt = None,
    models: ModelsOpt = None,
) -> None:
    """Start the HTTP API (policies from GAVEL_POLICY_DIR, models from GAVEL_MODELS)."""
    import os

    import uvicorn

    if policy_dir is not None:
        os.environ["GAVEL_POLICY_DIR"] = str(policy_dir)
    if models is not None:
        os.environ["GAVEL_MODELS"] = models
    try:
        if workers is not None:
            # the workers read it too: with siblings, POST /admin/reload signals them
            os.environ["GAVEL_SERVE_WORKERS"] = str(workers)
        settings = Settings()
        workers = settings.serve_workers
        # Idle keep-alive connections are closed after keep_alive_timeout_s; bodies that stop
        # arriving are cut off by the app (GAVEL_BODY_TIMEOUT_S). log_config=None: uvicorn logs
        # through Gavel's handler (JSON, no colours).
        server_options: dict[str, Any] = {
            "host": host,
            "port": port,
            "access_log": False,
            "log_config": None,
            "timeout_keep_alive": settings.keep_alive_timeout_s,
        }
        from gavel.ops.logging import configure_logging

        configure_logging(settings.log_level, settings.log_json)
        if workers > 1:
            # fail here, with file:line, rather than in every worker as a traceback
            from gavel.api.routes.admin import check_admin_settings
            from gavel.engine.registry import PolicyRegistry

            check_admin_settings(settings)
            PolicyRegistry(settings.policy_dir, None, settings.max_policy_bytes, settings.max_lexicon_terms).load()
            uvicorn.run("gavel.api.app:create_app_from_env", factory=True, workers=workers, **server_options)
            return
        from gavel.api.app import create_app

        application = create_app(settings)
    except PolicyError as exc:
        raise _fail(f"gavel: cannot start, the policies have errors:\n{exc}", 1) from exc
    except (ValueError, GavelError) as exc:  # settings refused, a required store unreachable, ...
        raise _fail(f"gavel: cannot start: {exc}", 1) from exc
    uvicorn.run(application, **server_options)


_COLOURS = {Verdict.VIOLATES: "red", Verdict.NEEDS_REVIEW: "yellow", Verdict.NO_VIOLATION: "green"}


def _human(result: EvaluationResult, text: str) -> str:
    lines = [
        typer.style(f"decision: {result.decision.action.value}", bold=True)
        + (f"  (violated: {', '.join(result.decision.policies_violated)})" if result.decision.policies_violated else "")
    ]
    for policy in result.policies:
        lines.append(f"{policy.policy_id} v{policy.version} ({policy.digest[:19]}…)")
        for clause in policy.clauses:
            tag = typer.style(f"{clause.verdict.value:<13}", fg=_COLOURS[clause.verdict])
            lines.append(f"  {tag} {clause.clause_id:<26} {clause.score:.2f}")
            if clause.verdict is Verdict.NO_VIOLATION and not clause.exceptions:
                continue
            lines.append("      " + _highlight(text, [(e.start, e.end) for e in clause.evidence]))
            for e in clause.evidence:
                lines.append(
                    f"      [{e.start}:{e.end}] '{e.text}' {e.kind}:{e.signal} {e.score:.2f} - {e.explanation}"
                )
            for x in clause.exceptions:
                change = f"{x.verdict_before.value} -> {x.verdict_after.value}"
                lines.append(f"      exception {x.exception_id}: {change}: {x.explanation}")
            lines.append(f"      why: {clause.explanation}")
    return "\n".join(lines)


def _highlight(text: str, spans: list[tuple[int, int]]) -> str:
    marks = [False] * len(text)
    for s, e in spans:
        for i in range(s, e):
            marks[i] = True
    out, i = [], 0
    while i < len(text):
        j = i
        while j < len(text) and marks[j] == marks[i]:
            j += 1
        chunk = text[i:j].replace("\n", " ")
        out.append(typer.style(chunk, fg="red", bold=True, underline=True) if marks[i] else chunk)
        i = j
    return "".join(out)


@app.command()
def evaluate(
    text: Annotated[
        str | None,
        typer.Argument(help="the post; '-' or nothing reads one post per line from stdin"),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", help="NDJSON ({id,text,context}), CSV (id,text) or text (a post per line)"),
    ] = None,
    policies: Annotated[str | None, typer.Option(help="comma-separated policy ids (default: all)")] = None,
    human: Annotated[
        bool, typer.Option("--human", help="highlight the spans per clause instead of JSON lines")
    ] = False,
    policy_dir: PolicyDirOpt = None,
    models: ModelsOpt = None,
) -> None:
    """Evaluate posts and print one JSON answer per line (or a human view).

    Posts go through the same batched path as POST /evaluate/stream. A bad input line prints one
    error line (with its line number) on stderr and the rest go on; a summary ends the run, and
    the exit code is 1 if any line failed. A progress bar shows on a terminal, never when piped."""
    from gavel.cli_evaluate import run_evaluate

    ids = [p.strip() for p in policies.split(",") if p.strip()] if policies else None
    try:
        failed = asyncio.run(run_evaluate(_settings(policy_dir, models), text, file, ids, human, _human))
    except GavelError as exc:
        raise _fail(f"gavel: {exc}", 2) from exc
    except OSError as exc:
        raise _fail(f"gavel: {exc}", 2) from exc
    if failed:
        raise typer.Exit(1)


@app.command()
def validate(
    paths: Annotated[list[Path], typer.Argument(help="policy or case files, or directories")],
) -> None:
    """Validate policy files (*.yaml) and replay suites (*.cases.yaml); errors name file:line:col."""
    failed = False
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += policy_files(path) + case_files(path)
        else:
            files.append(path)
    from gavel.engine.compiler import compile_policy

    for f in files:
        try:
            if f.name.endswith((".cases.yaml", ".cases.yml")):
                cf = load_case_file(f)
                typer.echo(f"ok  {f}: {len(cf.cases)} cases for policy '{cf.policy}'")
            else:
                loaded = load_policy_file(f)
                compiled = compile_policy(loaded, None)
                typer.echo(
                    f"ok  {f}: policy '{loaded.policy.id}' v{loaded.policy.version}, "
                    f"{len(loaded.policy.clauses)} clauses, {compiled.lexicon.size} lexicon forms"
                )
                for warning in compiled.warnings:
                    typer.echo(f"warning: {warning}", err=True)
        except PolicyError as exc:
            failed = True
            typer.echo(str(exc), err=True)
    if failed:
        raise typer.Exit(1)


def _print_report(report: ReplayReport, verbose: bool) -> None:
    total = len(report.outcomes)
    failed = report.failed
    typer.echo(f"{report.source}: {total - len(failed)}/{total} cases pass (policy {report.policy})")
    if failed:
        rows = [("case", "clause", "expected", "actual", "why")]
        for o in failed:
            for m in o.mismatches:
                rows.append(
                    (
                        o.case.id,
                        m.clause,
                        m.expected,
                        m.actual,
                        m.detail[:120] if not verbose else m.detail,
                    )
                )
        widths = [min(max(len(r[i]) for r in rows), 40) for i in range(4)]
        for r in rows:
            typer.echo("  " + "  ".join(r[i][:40].ljust(widths[i]) for i in range(4)) + "  " + r[4])


def _print_functionality_table(reports: list[ReplayReport]) -> None:
    merged = functionality_table(reports)
    width = max((len(k) for k in merged), default=13)
    typer.echo(f"\n| {'functionality'.ljust(width)} | cases | passed | accuracy |")
    typer.echo(f"|{'-' * (width + 2)}|------:|-------:|---------:|")
    for func, (ok, n) in sorted(merged.items()):
        typer.echo(f"| {func.ljust(width)} | {n:5d} | {ok:6d} | {100 * ok / n:7.1f}% |")
    cases = sum(len(r.outcomes) for r in reports)
    passed = sum(len(r.outcomes) - len(r.failed) for r in reports)
    if cases:
        typer.echo(f"| {'**all cases**'.ljust(width)} | {cases:5d} | {passed:6d} | {100 * passed / cases:7.1f}% |")


@app.command("replay")
def replay_cmd(
    casefiles: Annotated[list[Path], typer.Argument(help="*.cases.yaml files")],
    policy_dir: Annotated[
        Path | None, typer.Option("--policy-dir", help="default: the directory of each case file")
    ] = None,
    models: ModelsOpt = None,
    report: Annotated[bool, typer.Option("--report", help="print accuracy per functionality")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Replay case files against their policy; exits non-zero on any mismatch."""
    reports: list[ReplayReport] = []
    evaluators: dict[Path, Evaluator] = {}
    try:
        for path in casefiles:
            cf: CaseFile = load_case_file(path)
            pdir = (policy_dir or path.parent).resolve()
            if policy_dir is None and not policy_files(pdir):
                pdir = Settings().policy_dir.resolve()  # a suite kept apart from its policy (tests/cases/)
            if pdir not in evaluators:
                evaluators[pdir] = build_runtime(_settings(pdir, models)).evaluator
            reports.append(asyncio.run(replay(cf, evaluators[pdir], str(path))))
    except GavelError as exc:
        raise _fail(f"gavel: {exc}", 2) from exc
    for r in reports:
        _print_report(r, verbose)
    if report:
        _print_functionality_table(reports)
    if any(r.failed for r in reports):
        raise typer.Exit(1)


@app.command()
def schema(
    cases: Annotated[bool, typer.Option("--cases", help="the case-file schema instead")] = False,
) -> None:
    """Print the JSON Schema of policy files (or case files)."""
    model = CaseFile if cases else Policy
    typer.echo(json.dumps(model.model_json_schema(), indent=2))


@app.command()
def init(
    policy_id: Annotated[str, typer.Argument(help="id of the new policy, e.g. personal_threats")],
    policy_dir: PolicyDirOpt = None,
) -> None:
    """Write a small, complete starter policy and its replay cases (never overwrites)."""
    from gavel.authoring import write_starter

    directory = policy_dir or Settings().policy_dir
    try:
        written = write_starter(directory, policy_id)
    except (GavelError, ValueError, OSError) as exc:
        raise _fail(f"gavel init: {exc}", 1) from exc
    for path in written:
        typer.echo(f"wrote {path}")
    typer.echo(f"next: gavel validate {written[0]} && gavel replay {written[1]} --models ''")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True}, add_help_option=False)
def train(ctx: typer.Context) -> None:
    """Train the hate-speech model (options: `gavel train --help`; service/gavel/training/README.md)."""
    from gavel.training.__main__ import main as train_main

    raise typer.Exit(train_main(ctx.args))


# The stream worker: its options and body live beside it, in service/gavel/stream/worker_main.py.
from gavel.stream.worker_main import worker_command  # noqa: E402

app.command("worker")(worker_command)

# The review console's commands: keys, review purge, cases export (service/gavel/review/cli.py).
from gavel.review.cli import cases_app, keys_app, review_app  # noqa: E402

app.add_typer(keys_app, name="keys")
app.add_typer(review_app, name="review")
app.add_typer(cases_app, name="cases")


if __name__ == "__main__":
    app()

"""`gavel keys ...`, `gavel review purge` and `gavel cases export`: the review console's commands.
They work on the database of GAVEL_STORE_URL (or --store-url)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import yaml

from gavel.auth.keys import ROLES
from gavel.review import insights
from gavel.review.service import Review, open_review
from gavel.settings import Settings
from gavel.store.engine import StoreError

StoreOpt = Annotated[str | None, typer.Option("--store-url", help="default: GAVEL_STORE_URL")]

keys_app = typer.Typer(help="API keys per person: viewer (read), reviewer (claim, decide), admin (keys).")
review_app = typer.Typer(help="The review queue's maintenance.")
cases_app = typer.Typer(help="Case files from reviewers' decisions.")


def _open(store_url: str | None) -> Review:
    try:
        return open_review(Settings(), store_url)
    except ValueError as exc:
        typer.echo(f"gavel: {exc}", err=True)
        raise typer.Exit(2) from exc
    except StoreError as exc:  # unreachable, or a schema this Gavel does not know: one line, no traceback
        typer.echo(f"gavel: {exc}", err=True)
        raise typer.Exit(1) from exc


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option("--name", help="whose key (shown in the audit log)")],
    role: Annotated[str, typer.Option("--role", help="viewer, reviewer or admin")] = "viewer",
    store_url: StoreOpt = None,
) -> None:
    """Create a key and print it once (only its SHA-256 is stored)."""
    if role not in ROLES:
        typer.echo(f"gavel: --role must be one of {', '.join(ROLES)}", err=True)
        raise typer.Exit(2)
    review = _open(store_url)
    try:
        info, token = review.keys.create(name, role)
    except ValueError as exc:
        typer.echo(f"gavel: {exc}", err=True)
        raise typer.Exit(2) from exc
    finally:
        review.close()
    typer.echo(f"created key {info.id} for {info.name} ({info.role}); it is shown only now:", err=True)
    typer.echo(token)


@keys_app.command("list")
def keys_list(store_url: StoreOpt = None) -> None:
    review = _open(store_url)
    for k in review.keys.list():
        state = "revoked" if k.revoked_ms else "active"
        typer.echo(f"{k.id}\t{k.name}\t{k.role}\t{state}")
    review.close()


@keys_app.command("revoke")
def keys_revoke(key_id: int, store_url: StoreOpt = None) -> None:
    review = _open(store_url)
    ok = review.keys.revoke(key_id)
    review.close()
    if not ok:
        typer.echo(f"gavel: no active key {key_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked key {key_id}")


@review_app.command("purge")
def review_purge(
    older_than_s: Annotated[
        int | None, typer.Option("--older-than-s", help="default: GAVEL_REVIEW_TEXT_RETENTION_S")
    ] = None,
    store_url: StoreOpt = None,
) -> None:
    """Forget the text of queued posts older than the retention period (decisions are kept)."""
    review = _open(store_url)
    age = older_than_s if older_than_s is not None else review.settings.review_text_retention_s
    n = review.queue.purge_texts(age, actor="gavel review purge")
    review.close()
    typer.echo(f"purged the text of {n} queued post(s) older than {age} s")


@cases_app.command("export")
def cases_export(
    out_dir: Annotated[Path, typer.Argument(help="directory to write <policy>.reviewed.cases.yaml into")],
    policy: Annotated[str | None, typer.Option("--policy", help="only this policy")] = None,
    store_url: StoreOpt = None,
) -> None:
    """Write reviewed posts as replay case files (run them with `gavel replay`)."""
    review = _open(store_url)
    files, skipped = insights.case_files(review.engine, policy)
    review.close()
    out_dir.mkdir(parents=True, exist_ok=True)
    for policy_id, doc in sorted(files.items()):
        path = out_dir / f"{policy_id}.reviewed.cases.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
        typer.echo(f"wrote {len(doc['cases'])} case(s) to {path}")
    if skipped:
        typer.echo(f"left out {skipped} decided item(s) whose text was purged", err=True)
    if not files:
        typer.echo("no decided items to export", err=True)
        raise typer.Exit(1)

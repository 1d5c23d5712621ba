"""`dlrhub accounts keys list|create|revoke`: an account's API keys from the command line."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from dlrhub.config import Settings

keys_app = typer.Typer(help="An account's API keys.", no_args_is_help=True)

AccountArg = Annotated[str, typer.Argument(help="Account id or name.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _iso(moment: Any) -> str | None:
    from dlrhub.domain.payloads import format_timestamp

    return None if moment is None else format_timestamp(moment)


def _as_dict(record: Any) -> dict[str, Any]:
    """The key as the API lists it."""
    return {
        "id": record.id,
        "name": record.name,
        "prefix": record.prefix,
        "createdAt": _iso(record.created_at),
        "lastUsedAt": _iso(record.last_used_at),
        "revokedAt": _iso(record.revoked_at),
    }


def _on_account(account: str, work: Any) -> Any:
    """Run `work(hub, account_id)` against DLRHUB_DATABASE_URL."""
    # Imported here: dlrhub.cli imports this module to register the commands.
    from dlrhub.cli import _run, _with_hub

    async def run(hub: Any) -> Any:
        return await work(hub, await hub.accounts.account_id(account))

    return _run(lambda: _with_hub(Settings(), run))


@keys_app.command("list")
def keys_list(account: AccountArg, as_json: JsonOption = False) -> None:
    """List the account's keys, revoked ones too (never the keys themselves)."""

    async def read(hub: Any, account_id: str) -> Any:
        return await hub.accounts.list_keys(account_id)

    records = _on_account(account, read)
    if as_json:
        typer.echo(json.dumps({"items": [_as_dict(r) for r in records]}))
        return
    if not records:
        typer.echo("no API keys")
    for r in records:
        state = f"revoked {_iso(r.revoked_at)}" if r.revoked_at else "active"
        used = _iso(r.last_used_at) or "never"
        typer.echo(f"{r.id}  {r.prefix}…  {r.name!r}  created {_iso(r.created_at)}")
        typer.echo(f"    last used {used}  {state}")


@keys_app.command("create")
def keys_create(
    account: AccountArg,
    name: Annotated[str, typer.Option(help="What the key is for (1-200 characters).")] = "cli",
    as_json: JsonOption = False,
) -> None:
    """Create a key and print it (shown only this once)."""

    async def create(hub: Any, account_id: str) -> Any:
        return await hub.accounts.create_key(account_id, name)

    created = _on_account(account, create)
    if as_json:
        typer.echo(json.dumps({**_as_dict(created.record), "apiKey": created.api_key}))
        return
    typer.echo(f"key {created.record.id} ({created.record.name!r})")
    typer.echo(f"API key: {created.api_key}")
    typer.echo("Keep the key: it is stored hashed and cannot be shown again.")


@keys_app.command("revoke")
def keys_revoke(
    account: AccountArg,
    key_id: Annotated[str, typer.Argument(help="The key's id (see `keys list`).")],
) -> None:
    """Revoke a key: every running process refuses it (401) within 5 seconds."""

    async def revoke(hub: Any, account_id: str) -> Any:
        return await hub.accounts.revoke_key(account_id, key_id)

    revoked = _on_account(account, revoke)
    typer.echo(f"key {revoked.id} ({revoked.name!r}) revoked at {_iso(revoked.revoked_at)}")

"""`dlrhub accounts keys list|create|revoke`: an account's API keys from the command line."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer

from dlrhub.cli_common import iso, run, with_hub
from dlrhub.config import Settings
from dlrhub.services.accounts import NewApiKey
from dlrhub.store.records import ApiKeyRecord
from dlrhub.wiring.hub import Hub

T = TypeVar("T")

keys_app = typer.Typer(help="An account's API keys.", no_args_is_help=True)

AccountArg = Annotated[str, typer.Argument(help="Account id or name.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _as_dict(record: ApiKeyRecord) -> dict[str, object]:
    """The key as the API lists it."""
    return {
        "id": record.id,
        "name": record.name,
        "prefix": record.prefix,
        "createdAt": iso(record.created_at),
        "lastUsedAt": iso(record.last_used_at),
        "revokedAt": iso(record.revoked_at),
    }


def _on_account(account: str, work: Callable[[Hub, str], Awaitable[T]]) -> T:
    """Run `work(hub, account_id)` against DLRHUB_DATABASE_URL."""

    async def on_hub(hub: Hub) -> T:
        return await work(hub, await hub.accounts.account_id(account))

    return run(lambda: with_hub(Settings(), on_hub))


@keys_app.command("list")
def keys_list(account: AccountArg, as_json: JsonOption = False) -> None:
    """List the account's keys, revoked ones too (never the keys themselves)."""

    async def read(hub: Hub, account_id: str) -> list[ApiKeyRecord]:
        return await hub.accounts.list_keys(account_id)

    records = _on_account(account, read)
    if as_json:
        typer.echo(json.dumps({"items": [_as_dict(r) for r in records]}))
        return
    if not records:
        typer.echo("no API keys")
    for r in records:
        state = f"revoked {iso(r.revoked_at)}" if r.revoked_at else "active"
        used = iso(r.last_used_at) or "never"
        typer.echo(f"{r.id}  {r.prefix}…  {r.name!r}  created {iso(r.created_at)}")
        typer.echo(f"    last used {used}  {state}")


@keys_app.command("create")
def keys_create(
    account: AccountArg,
    name: Annotated[str, typer.Option(help="What the key is for (1-200 characters).")] = "cli",
    as_json: JsonOption = False,
) -> None:
    """Create a key and print it (shown only this once)."""

    async def create(hub: Hub, account_id: str) -> NewApiKey:
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

    async def revoke(hub: Hub, account_id: str) -> ApiKeyRecord:
        return await hub.accounts.revoke_key(account_id, key_id)

    revoked = _on_account(account, revoke)
    typer.echo(f"key {revoked.id} ({revoked.name!r}) revoked at {iso(revoked.revoked_at)}")

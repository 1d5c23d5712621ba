"""`dlrhub accounts …`: customer accounts, their numbers and (cli_keys) their API keys."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from dlrhub.cli_common import run, with_hub
from dlrhub.cli_keys import keys_app
from dlrhub.config import Settings
from dlrhub.domain.status import Channel
from dlrhub.services.accounts import NewAccount
from dlrhub.wiring.hub import Hub

accounts_app = typer.Typer(help="Customer accounts and their keys.", no_args_is_help=True)
accounts_app.add_typer(keys_app, name="keys")


@accounts_app.command("create")
def accounts_create(
    name: Annotated[str, typer.Argument(help="A unique account name.")],
    as_json: Annotated[
        bool, typer.Option("--json", help='Print only {"accountId", "apiKey"} as JSON.')
    ] = False,
) -> None:
    """Create an account and print its API key (shown only this once)."""

    async def create(hub: Hub) -> NewAccount:
        return await hub.accounts.create(name)

    created = run(lambda: with_hub(Settings(), create))
    if as_json:
        typer.echo(json.dumps({"accountId": created.account_id, "apiKey": created.api_key}))
    else:
        typer.echo(f"account {created.name} ({created.account_id})")
        typer.echo(f"API key: {created.api_key}")
        typer.echo("Keep the key: it is stored hashed and cannot be shown again.")


@accounts_app.command("add-waba")
def accounts_add_waba(
    account: Annotated[str, typer.Argument(help="Account id or name.")],
    number: Annotated[str, typer.Argument(help="WhatsApp business number, E.164.")],
    meta_phone_number_id: Annotated[
        str | None,
        typer.Option(help="The number's phone_number_id at Meta (real sends, SPEC §11.3)."),
    ] = None,
) -> None:
    """Register a WhatsApp business (WABA) number to an account (again: set its Meta id)."""

    async def add(hub: Hub) -> tuple[str, str]:
        return await hub.accounts.add_waba_number(account, number, meta_phone_number_id)

    account_id, added = run(lambda: with_hub(Settings(), add))
    meta = f" (Meta phone_number_id {meta_phone_number_id})" if meta_phone_number_id else ""
    typer.echo(f"{added} now belongs to account {account_id}{meta}")


@accounts_app.command("add-number")
def accounts_add_number(
    account: Annotated[str, typer.Argument(help="Account id or name.")],
    number: Annotated[str, typer.Argument(help="Business number, E.164.")],
    channel: Annotated[
        str,
        typer.Option(
            help="SMS (its replies over SMPP reach the account), RCS (the RBM agent's number: "
            "replies to the agent reach the account) or WHATSAPP."
        ),
    ] = "SMS",
) -> None:
    """Register a business number to an account for a channel (SMS: its replies, MO)."""
    try:
        chosen = Channel(channel.upper())
    except ValueError:
        raise typer.BadParameter(
            "channel is SMS, RCS or WHATSAPP", param_hint="--channel"
        ) from None

    async def add(hub: Hub) -> tuple[str, str]:
        return await hub.accounts.add_number(account, number, chosen)

    account_id, added = run(lambda: with_hub(Settings(), add))
    typer.echo(f"{added} now belongs to account {account_id} for {chosen.value}")

"""``vatel keys create|list|revoke``: the server's API keys, straight from its database.

``create`` prints only the new key on stdout (so ``KEY=$(vatel keys create)`` works); the key is
shown once and only its hash is stored.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from vatel.cli.data_dir import add_data_dir, settings_from
from vatel.cli.failure import CommandError
from vatel.server.bootstrap import prepare
from vatel.server.store.database import DatabaseError
from vatel.server.store.errors import NotFound
from vatel.server.store.organizations import create_key, list_keys, revoke_key

T = TypeVar("T")


def _with_store(args: argparse.Namespace, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    async def run() -> T:
        ready = await prepare(settings_from(args))
        try:
            return await work(ready.engine)
        finally:
            await ready.engine.dispose()

    try:
        return asyncio.run(run())
    except DatabaseError as error:
        raise CommandError(str(error)) from None
    except NotFound as error:
        raise CommandError(str(error)) from None


def run_create(args: argparse.Namespace) -> int:
    if not args.name.strip() or len(args.name) > 200:
        raise CommandError("--name must be 1 to 200 characters")
    _, key = _with_store(args, lambda engine: create_key(engine, args.name))
    print(key)
    return 0


def run_list(args: argparse.Namespace) -> int:
    keys = _with_store(args, list_keys)
    print(f"{'ID':<36}  {'PREFIX':<12}  {'CREATED':<27}  {'STATE':<8}  NAME")
    for key in keys:
        state = "revoked" if key.revoked_at else "active"
        print(f"{key.id:<36}  {key.prefix + '…':<12}  {key.created_at:<27}  {state:<8}  {key.name}")
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    info = _with_store(args, lambda engine: revoke_key(engine, args.id))
    print(f"revoked {info.id} ({info.prefix}…, {info.name})")
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = commands.add_parser("keys", help="create, list or revoke the local server's API keys")
    actions = keys.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create a key and print it (only the key, on stdout)")
    create.add_argument("--name", default="key", help="a label to recognise the key by")
    add_data_dir(create)
    create.set_defaults(run=run_create)
    listing = actions.add_parser("list", help="list the keys (never the keys themselves)")
    add_data_dir(listing)
    listing.set_defaults(run=run_list)
    revoke = actions.add_parser("revoke", help="revoke a key by its id (from `vatel keys list`)")
    revoke.add_argument("id")
    add_data_dir(revoke)
    revoke.set_defaults(run=run_revoke)

"""``vatel check``, ``vatel agents``, ``vatel token``: the REST API from the shell.

Each prints one clear line on a failure (``error: ...`` with the fix) and exits 1; the output of a
successful call is JSON, so it pipes into ``jq``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import orjson

from vatel.cli.agents_import import register_import
from vatel.cli.failure import CommandError
from vatel.client import DEFAULT_BASE_URL, Client
from vatel.errors import APIConnectionError, APIError, AuthenticationError


def _client(args: argparse.Namespace) -> Client:
    try:
        return Client(api_key=args.api_key, base_url=args.base_url, timeout=args.timeout, max_retries=1)
    except ValueError as error:
        raise CommandError(f"{error} (--base-url or VATEL_BASE_URL)") from None


def _print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def _fail(error: APIError, base_url: str) -> int:
    if isinstance(error, AuthenticationError):
        hint = " (check --api-key or VATEL_API_KEY)"
    elif isinstance(error, APIConnectionError):
        hint = f" (is {base_url} reachable? set --base-url or VATEL_BASE_URL)"
    else:
        hint = ""
    print(f"error: {error}{hint}", file=sys.stderr)
    return 1


def run_check(args: argparse.Namespace) -> int:
    """Reach the server and show the organization the key belongs to."""
    with _client(args) as client:
        try:
            org = client.organization.get()
        except APIError as error:
            return _fail(error, client.base_url)
    print(f"ok: {client.base_url} answers; organization {org.name or '?'} ({org.id or '?'})")
    return 0


def run_agents(args: argparse.Namespace) -> int:
    with _client(args) as client:
        try:
            agents = client.agents.list()
        except APIError as error:
            return _fail(error, client.base_url)
    _print_json([agent.to_wire() for agent in agents])
    return 0


def run_token(args: argparse.Namespace) -> int:
    with _client(args) as client:
        try:
            token = client.session.generate_token(args.agent_id)
        except APIError as error:
            return _fail(error, client.base_url)
    print(token.token)
    return 0


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--api-key", default=os.environ.get("VATEL_API_KEY"), help="API key (VATEL_API_KEY)")
    common.add_argument(
        "--base-url",
        default=os.environ.get("VATEL_BASE_URL") or DEFAULT_BASE_URL,
        help=f"server (VATEL_BASE_URL; default {DEFAULT_BASE_URL})",
    )
    common.add_argument("--timeout", type=_positive_float, default=10.0, help="seconds per request")

    check = commands.add_parser(
        "check", parents=[common], help="check that the server answers and the key works"
    )
    check.set_defaults(run=run_check)
    agents = commands.add_parser(
        "agents", parents=[common], help="list the agents as JSON; `vatel agents import` sets graph nodes"
    )
    agents.set_defaults(run=run_agents)
    actions = agents.add_subparsers(dest="agents_action", metavar="ACTION")
    listing = actions.add_parser("list", parents=[common], help="list the organization's agents as JSON")
    listing.set_defaults(run=run_agents)
    register_import(actions)
    token = commands.add_parser("token", parents=[common], help="print a session token for an agent")
    token.add_argument("agent_id")
    token.set_defaults(run=run_token)

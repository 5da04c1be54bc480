"""``vatel agents import FILE``: set a version's graph nodes, which the REST API cannot do.

The file is a JSON array of nodes (or an object with a ``nodes`` array); the scripted brain reads
``rule`` and ``default`` nodes (``docs/scripted-brain.md``), an LLM brain ``tool`` and ``end_call``
nodes (README, "LLM agents"). It writes to the local server's store (``--data-dir`` or
``VATEL_DATABASE_URL``), and prints what the agent's brain will skip.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import orjson

from vatel.cli.data_dir import add_data_dir, settings_from
from vatel.cli.failure import CommandError

MAX_FILE_BYTES = 5 * 1024 * 1024


def read_nodes(path: Path) -> list[dict[str, Any]]:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error.strerror or error}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise CommandError(f"{path} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise CommandError(f"{path} is not JSON: {error}") from None
    if isinstance(data, dict):
        data = data.get("nodes")
    if not isinstance(data, list) or not all(isinstance(node, dict) for node in data):
        raise CommandError(f'{path} must hold a JSON array of node objects (or {{"nodes": [...]}})')
    return data


async def _import(args: argparse.Namespace, nodes: list[dict[str, Any]]) -> tuple[str, str, str]:
    from vatel.server.bootstrap import prepare
    from vatel.server.engines.scripted_brain import ScriptedBrain
    from vatel.server.store import agents as store

    ready = await prepare(settings_from(args))
    try:
        async with ready.engine.begin() as conn:
            agent = await store.get_agent(conn, ready.organization.id, args.agent_id)
            if args.version_id:
                version = await store.get_version(conn, agent, args.version_id)
            else:
                version = await store.active_version(conn, agent)
            await store.set_version_nodes(conn, agent, version.id, nodes)
            prompt = str(agent.config.get("prompt", ""))
        return version.id, prompt, str(agent.config.get("llm", ScriptedBrain.name))
    finally:
        await ready.engine.dispose()


def node_problems(llm: str, prompt: str, nodes: list[dict[str, Any]]) -> list[str]:
    """What the agent's brain will skip: rules for the scripted brain, tools for an LLM."""
    from vatel.server.engines.llm_messages import offered_tools
    from vatel.server.engines.scripted_brain import ScriptedBrain
    from vatel.server.engines.scripted_rules import check_rules

    if llm == ScriptedBrain.name:
        return check_rules(prompt, nodes)
    return list(offered_tools(nodes).problems)


def run_import(args: argparse.Namespace) -> int:
    """(The server's packages are imported here, not at start-up: the other `vatel agents` commands
    work with the SDK alone.)"""
    try:
        from vatel.server.store.database import DatabaseError
        from vatel.server.store.errors import NotFound
    except ImportError as missing:
        raise CommandError(
            f"`vatel agents import` writes to a local server's data and needs vatel[server] "
            f"({missing.name} is missing): pip install 'vatel[server]'"
        ) from None
    nodes = read_nodes(args.file)
    try:
        version_id, prompt, llm = asyncio.run(_import(args, nodes))
    except (DatabaseError, NotFound) as error:
        raise CommandError(str(error)) from None
    for problem in node_problems(llm, prompt, nodes):
        print(f"warning: {problem}", file=sys.stderr)
    print(f"imported {len(nodes)} nodes into version {version_id} of agent {args.agent_id}")
    return 0


def register_import(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = actions.add_parser("import", help="set the graph nodes of an agent's version (local server)")
    command.add_argument("file", type=Path, help="a JSON array of nodes (docs/scripted-brain.md)")
    command.add_argument("--agent-id", required=True, help="the agent's UUID")
    command.add_argument("--version-id", help="the version (default: the agent's active version)")
    add_data_dir(command)
    command.set_defaults(run=run_import)

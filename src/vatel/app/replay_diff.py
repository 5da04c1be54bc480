"""What ``vatel replay`` prints: a recorded session's report beside the replay's, and what differs.

Pure: two reports of :mod:`vatel.app.session_report` in, a comparison out (JSON-ready), and its
text. A *difference* is something the server did differently: a message type sent a different
number of times, a transcript or an agent text that changed (shown word by word, ``[-old-]``
``{+new+}``), another number of interruptions, other tool calls. Latencies are shown side by side
and never count as differences: two runs never take exactly the same time.
"""

from __future__ import annotations

from difflib import SequenceMatcher
from itertools import zip_longest
from typing import Any

__all__ = ["compare_reports", "format_comparison", "word_diff"]


def word_diff(old: str, new: str) -> str:
    """``old`` to ``new`` word by word: unchanged words as they are, ``[-gone-]``, ``{+added+}``."""
    a, b = old.split(), new.split()
    parts: list[str] = []
    for op, i1, i2, j1, j2 in SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            parts += a[i1:i2]
            continue
        if i2 > i1:
            parts.append("[-" + " ".join(a[i1:i2]) + "-]")
        if j2 > j1:
            parts.append("{+" + " ".join(b[j1:j2]) + "+}")
    return " ".join(parts)


def _texts(recorded: list[str], now: list[str]) -> list[dict[str, Any]]:
    rows = []
    for old, new in zip_longest(recorded, now):
        rows.append(
            {
                "recorded": old,
                "now": new,
                "same": old == new,
                "diff": word_diff(old or "", new or ""),
            }
        )
    return rows


def compare_reports(recorded: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    """The comparison of two session reports; ``differences`` lists each difference in one line."""
    differences: list[str] = []
    messages: dict[str, dict[str, list[int]]] = {}
    for side in ("in", "out"):
        old, new = recorded["messages"].get(side, {}), now["messages"].get(side, {})
        messages[side] = {kind: [old.get(kind, 0), new.get(kind, 0)] for kind in sorted({*old, *new})}
        for kind, (a, b) in messages[side].items():
            if a != b:
                arrow = "received" if side == "in" else "sent"
                differences.append(f"{kind} {arrow}: {a} recorded, {b} now")
    transcripts = _texts(recorded["user_transcripts"], now["user_transcripts"])
    for index, row in enumerate(transcripts, start=1):
        if not row["same"]:
            differences.append(f"user transcript {index}: {row['diff']}")
    agent_texts = _texts(
        [t["text"] for t in recorded["turns"] if t["text"]], [t["text"] for t in now["turns"] if t["text"]]
    )
    for index, row in enumerate(agent_texts, start=1):
        if not row["same"]:
            differences.append(f"agent text {index}: {row['diff']}")
    if recorded["interruptions"] != now["interruptions"]:
        differences.append(f"interruptions: {recorded['interruptions']} recorded, {now['interruptions']} now")
    tools = [[c["name"] for c in recorded["tool_calls"]], [c["name"] for c in now["tool_calls"]]]
    if tools[0] != tools[1]:
        differences.append(
            f"tool calls: {', '.join(tools[0]) or 'none'} recorded, {', '.join(tools[1]) or 'none'} now"
        )
    turns = [
        {
            "recorded": None if old is None else old["turn_id"],
            "now": None if new is None else new["turn_id"],
            "latency": [None if old is None else old["latency"], None if new is None else new["latency"]],
            "interrupted": [
                None if old is None else old["interrupted"],
                None if new is None else new["interrupted"],
            ],
        }
        for old, new in zip_longest(recorded["turns"], now["turns"])
    ]
    return {
        "same": not differences,
        "differences": differences,
        "messages": messages,
        "user_transcripts": transcripts,
        "agent_texts": agent_texts,
        "turns": turns,
        "latency": {"recorded": recorded["latency"], "now": now["latency"]},
        "interruptions": [recorded["interruptions"], now["interruptions"]],
        "tool_calls": tools,
    }


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def format_comparison(comparison: dict[str, Any], title: str) -> str:
    """The comparison as text: a heading, the tables, the differences last."""
    count = len(comparison["differences"])
    verdict = "no differences" if count == 0 else f"{count} difference{'s' if count != 1 else ''}"
    lines = [f"{title}: {verdict}", "", f"{'messages':<34}{'recorded':>10}{'now':>10}"]
    for side, kinds in comparison["messages"].items():
        for kind, (old, new) in kinds.items():
            mark = "  *" if old != new else ""
            lines.append(f"  {side:<4}{kind:<28}{old:>10}{new:>10}{mark}")
    for heading, key in (("user transcripts", "user_transcripts"), ("agent texts", "agent_texts")):
        rows = comparison[key]
        lines += ["", f"{heading} ({len(rows)})"]
        for index, row in enumerate(rows, start=1):
            text = row["now"] if row["same"] else row["diff"]
            lines.append(f"  {index:>2} {'  ' if row['same'] else '* '}{text}")
    lines += ["", f"{'turn latency (s)':<34}{'recorded':>10}{'now':>10}"]
    for turn in comparison["turns"]:
        name = f"{turn['recorded'] or '-'} / {turn['now'] or '-'}"
        old, new = turn["latency"]
        lines.append(f"  {name:<32}{_seconds(old):>10}{_seconds(new):>10}")
    latency = comparison["latency"]
    lines.append(
        f"  {'p50':<32}{_seconds(latency['recorded']['p50']):>10}{_seconds(latency['now']['p50']):>10}"
    )
    old_i, new_i = comparison["interruptions"]
    lines += ["", f"{'interruptions':<34}{old_i:>10}{new_i:>10}{'  *' if old_i != new_i else ''}"]
    old_t, new_t = comparison["tool_calls"]
    lines.append(f"tool calls: {', '.join(old_t) or 'none'} recorded; {', '.join(new_t) or 'none'} now")
    if count:
        lines += ["", "differences:", *(f"  - {line}" for line in comparison["differences"])]
    return "\n".join(lines)

"""What the LLM brain adds between a model server and speech, on loopback.

A fake OpenAI-compatible server (``tests/support/fake_llm.py``, the real chunked SSE wire) answers
each turn; the brain's own cost is measured, not a model's:

- ``sentence_to_say``: from the server writing the event that ends the first sentence to the
  brain yielding that sentence as a ``Say`` (the moment speech synthesis can start; a sure end
  such as "sentence." is not held back for the next event);
- ``request_to_first_say``: from asking the brain for a turn to its first ``Say``, when the server
  answers at once (request building, HTTP on a kept-alive connection, SSE parsing);
- ``per_event``: CPU per streamed event over a long answer of one-word events.

    .venv/bin/python benchmarks/llm_brain.py [--turns N]

Writes benchmarks/results/llm_brain.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.fake_llm import FakeLLM, Reply, chunk, text_events  # noqa: E402
from vatel.server.engines.brain import AgentSetup, Say, Utterance  # noqa: E402
from vatel.server.engines.llm_brain import LLMBrain, LLMEndpoint  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
HELLO = (Utterance("user", "hello"),)
FIRST = "Hello there, this is the first sentence."


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 3),
        "max_ms": round(ordered[-1] * 1000, 3),
    }


async def sentence_to_say(brain: LLMBrain, llm: FakeLLM, turns: int) -> list[float]:
    delays = []
    for _ in range(turns):
        llm.script(
            Reply([chunk(role="assistant"), chunk(FIRST), chunk(" Next."), chunk(finish="stop")], delay=0.05)
        )
        llm.written.clear()
        responses = brain.respond(AgentSetup(), HELLO)
        first = await anext(responses)
        said_at = time.perf_counter()
        assert first == Say(FIRST), first
        async for _ in responses:
            pass
        completing = next(at for at, event in llm.written if FIRST in event)
        delays.append(said_at - completing)
    return delays


async def request_to_first_say(brain: LLMBrain, llm: FakeLLM, turns: int) -> list[float]:
    delays = []
    for _ in range(turns):
        llm.script(Reply(text_events(FIRST, " Next.")))
        started = time.perf_counter()
        responses = brain.respond(AgentSetup(), HELLO)
        first = await anext(responses)
        delays.append(time.perf_counter() - started)
        assert first == Say(FIRST), first
        async for _ in responses:
            pass
    return delays


async def per_event(brain: LLMBrain, llm: FakeLLM, events: int) -> float:
    words = [f" word{i}." if i % 12 == 11 else f" word{i}" for i in range(events)]
    llm.script(Reply(text_events(*words)))
    cpu = time.process_time()
    said = [event async for event in brain.respond(AgentSetup(), HELLO)]
    assert len(said) == events // 12
    return (time.process_time() - cpu) / events


async def main(turns: int) -> dict[str, object]:
    with FakeLLM() as llm:
        brain = LLMBrain(LLMEndpoint("bench/fake", llm.base_url, "fake-model"))
        try:
            await request_to_first_say(brain, llm, 3)  # warm: connection, imports
            results: dict[str, object] = {
                "sentence_to_say": percentiles(await sentence_to_say(brain, llm, turns)),
                "request_to_first_say": percentiles(await request_to_first_say(brain, llm, turns)),
                "per_event_cpu_us": round(await per_event(brain, llm, 2400) * 1e6, 2),
            }
        finally:
            await brain.aclose()
    # the fake server shares the process: its CPU is in per_event too (an upper bound)
    return {
        "turns": turns,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "note": "fake server in the same process (its CPU counts in per_event_cpu_us)",
        **results,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--turns", type=int, default=50)
    args = parser.parse_args()
    report = asyncio.run(main(args.turns))
    print(json.dumps(report, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "llm_brain.json").write_text(json.dumps(report, indent=2) + "\n")

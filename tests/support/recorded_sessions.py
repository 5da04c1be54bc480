"""Scripted sessions for the ``--record`` / ``vatel replay`` tests (the server's side of each run)."""

from __future__ import annotations

from support.session_server import LiveSession
from support.signals import noise_burst, to_pcm16

SPOKEN = noise_burst(1.0, seed=21)
TURN1 = to_pcm16(noise_burst(0.4, seed=22))
TURN2 = to_pcm16(noise_burst(0.6, seed=23))
TOOL_OUTPUT = "table for 2 at 19:00"


async def booking(live: LiveSession) -> None:
    """Greeting, the user's question, a tool call, an answer, a second turn cut by an interruption."""
    await live.send("session_started", {"id": "call-rec"})
    await live.send_audio("t0", TURN1, pace=0)  # the greeting: no user speech before it
    await live.wait_input_seconds(1.2)
    await live.send("speech_started", {})
    await live.send("input_audio_transcript", {"transcript": "book a table for two", "is_final": True})
    await live.send("tool_call", {"toolCallId": "c1", "toolName": "book_table", "arguments": []})
    output = await live.wait_tool_output("c1")
    live.mark("answer")
    await live.send("response_text", {"turn_id": "t1", "text": f"Done. {output}", "is_final": True})
    await live.send_audio("t1", TURN1, pace=0)
    await live.send_audio("t2", TURN2, final=False, pace=0)
    await live.send("interruption")
    await live.send_audio("t2", TURN1, pace=0)  # late: not played
    await live.end()


async def booking_changed(live: LiveSession) -> None:
    """The same session with a server that hears and says other things and is not interrupted."""
    await live.send("session_started", {"id": "call-rec"})
    await live.send_audio("t0", TURN1, pace=0)
    await live.wait_input_seconds(1.2)
    await live.send("input_audio_transcript", {"transcript": "book a cable for two", "is_final": True})
    await live.send("response_text", {"turn_id": "t1", "text": "Sorry, we are closed.", "is_final": True})
    await live.send_audio("t1", TURN2, pace=0)
    await live.end()

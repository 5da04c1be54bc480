"""The live terminal view: the transcript scrolling above a status bar that redraws in place.

Rich's :class:`~rich.live.Live` keeps the bottom of the screen (interim lines being said, the
line being typed, the status bar); final lines are printed above it and scroll away. The status
bar shows what the conversation is doing (listening / user speaking / thinking / agent
speaking), a peak meter per side in dBFS, the modes (push-to-talk, mutes), the last turn's
latency and the keys. There is no refresh thread: the shell calls :meth:`LiveView.refresh` on its
tick (10 Hz at most) and the screen is redrawn only when what it shows has changed, so an idle
session costs next to nothing.

Same interface as :class:`vatel.app.printer.Printer` (``show``, ``close``); :meth:`close` stops
the live display and gives the cursor back, and is safe to call twice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from vatel.app.events import Line

__all__ = ["METER_FLOOR_DB", "LiveView", "Status", "meter"]

METER_FLOOR_DB = -60.0
METER_CELLS = 12
NOTE_SECONDS = 4.0
"""A status note (muted, push-to-talk, ...) stays this long; then the keys are shown again."""
_PREFIX = {"agent": ("Agent: ", "bold cyan"), "user": ("You: ", "bold green")}


@dataclass(frozen=True)
class Status:
    """What the status bar shows (the shell builds one per tick)."""

    activity: str = "connecting"
    mic_db: float = -120.0
    agent_db: float = -120.0
    mic_muted: bool = False
    speaker_muted: bool = False
    push_to_talk: bool = False
    talking: bool = False
    latency_ms: float | None = None
    keys: str = ""
    prompt: str | None = None
    """The line being typed (``None``: no prompt open)."""


def meter(db: float, cells: int = METER_CELLS) -> str:
    """A peak level as a bar: empty at :data:`METER_FLOOR_DB` and below, full at 0 dBFS."""
    share = min(1.0, max(0.0, (db - METER_FLOOR_DB) / -METER_FLOOR_DB))
    filled = round(share * cells)
    return "█" * filled + "·" * (cells - filled)


class LiveView:
    def __init__(self, out: TextIO) -> None:
        self.console = Console(file=out, force_terminal=True, highlight=False, markup=False, emoji=False)
        self._interim: dict[str, Text] = {}
        self._note = ""
        self._note_until = 0.0
        self._status = Status()
        self._shown: object = None
        self._live = Live(
            console=self.console,
            auto_refresh=False,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._live.start()
        self.redraws = 0

    # --- what the core shows ----------------------------------------------------------------------

    def show(self, line: Line) -> None:
        if line.speaker == "status":
            self._note, self._note_until = line.text, time.monotonic() + NOTE_SECONDS
        elif line.speaker == "prompt":
            return  # the prompt comes with the status (it must stay while other lines come)
        elif line.speaker == "info":
            self._print(Text(line.text, style="dim" if line.text.startswith("latency ") else ""))
        elif not line.final:
            self._interim[line.key] = self._transcript(line)
        else:
            self._interim.pop(line.key, None)
            self._print(self._transcript(line))
        self.refresh()

    def _transcript(self, line: Line) -> Text:
        prefix, style = _PREFIX[line.speaker]
        text = Text.assemble((prefix, style), line.text.replace("\n", " "))
        if line.unheard:
            text.append(" ")
            text.append(line.unheard.replace("\n", " "), style="strike dim")
        return text

    def _print(self, text: Text) -> None:
        if self._live.is_started:
            self._live.console.print(text)
            self._shown = None  # printing above redraws the live part: count it as changed

    # --- the status bar ---------------------------------------------------------------------------

    def refresh(self, status: Status | None = None) -> None:
        """Redraw if anything shown changed (``status``: the bar's new contents)."""
        if status is not None:
            self._status = status
        if not self._live.is_started:
            return
        if self._note and time.monotonic() > self._note_until:
            self._note = ""
        shown = (self._bar_text(), self._note, tuple(t.plain for t in self._interim.values()))
        if shown == self._shown:
            return
        self._shown = shown
        self.redraws += 1
        self._live.update(self._render(), refresh=True)

    def _bar_text(self) -> tuple[object, ...]:
        s = self._status
        return (
            s.activity,
            meter(s.mic_db),
            meter(s.agent_db),
            s.mic_muted,
            s.speaker_muted,
            s.push_to_talk,
            s.talking,
            None if s.latency_ms is None else round(s.latency_ms),
            s.keys,
            s.prompt,
        )

    def _render(self) -> Group:
        s = self._status
        parts: list[Text] = list(self._interim.values())
        if s.prompt is not None:
            parts.append(Text.assemble(("type> ", "bold yellow"), s.prompt, ("▏", "blink")))
        bar = Text.assemble(
            (f" {s.activity} ", "reverse bold"),
            "  mic ",
            ("muted" + " " * (METER_CELLS - 5), "red") if s.mic_muted else (meter(s.mic_db), "green"),
            "  agent ",
            (meter(s.agent_db), "cyan"),
        )
        if s.speaker_muted:
            bar.append("  speaker muted", style="red")
        if s.push_to_talk:
            bar.append("  PTT: talking" if s.talking else "  PTT: space to talk", style="yellow")
        if s.latency_ms is not None:
            bar.append(f"  last turn {s.latency_ms:.0f} ms")
        parts.append(bar)
        parts.append(Text(self._note or s.keys, style="dim"))
        return Group(*parts)

    def close(self) -> None:
        """Stop the live part (keeping the transcript printed) and give the cursor back."""
        if self._live.is_started:
            for text in self._interim.values():  # interim words said when the session ended are kept
                self._live.console.print(text)
            self._interim.clear()
            self._live.stop()

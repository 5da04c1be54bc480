"""One agent turn's audio on its way to the client's speaker: paced, and accounted for.

Audio is sent in ``chunk_seconds`` pieces no more than ``lead`` seconds ahead of the client's
playout clock, so a barge-in can stop it at once, and the agent counts as speaking until the
audio already sent would have finished playing. From the same clock, :meth:`heard` says which
part of the text the user actually heard when the turn was cut.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from vatel.protocol import SAMPLE_RATE, SAMPLE_WIDTH

BYTES_PER_SECOND = SAMPLE_RATE * SAMPLE_WIDTH


@dataclass
class Segment:
    text: str
    seconds: float = 0.0
    """Audio synthesised so far for this segment."""
    done: bool = False


@dataclass
class Playout:
    turn_id: str
    chunk_seconds: float = 0.04
    lead: float = 0.2
    segments: list[Segment] = field(default_factory=list)
    queue: deque[tuple[int, bytes]] = field(default_factory=deque)
    sent_seconds: float = 0.0
    play_end: float = 0.0
    """When the client will have played everything sent so far."""
    final_sent: bool = False
    _undone: int = 0
    """Segments not yet fully synthesised (``synthesised`` is asked for every chunk sent)."""

    # --- filling --------------------------------------------------------------------------------

    def add_segment(self, text: str) -> int:
        self.segments.append(Segment(text))
        self._undone += 1
        return len(self.segments) - 1

    def add_audio(self, segment: int, pcm: bytes) -> None:
        if not 0 <= segment < len(self.segments) or not pcm:
            return
        pcm = pcm[: len(pcm) - len(pcm) % SAMPLE_WIDTH]
        step = max(SAMPLE_WIDTH, int(self.chunk_seconds * SAMPLE_RATE) * SAMPLE_WIDTH)
        for offset in range(0, len(pcm), step):
            self.queue.append((segment, pcm[offset : offset + step]))
        self.segments[segment].seconds += len(pcm) / BYTES_PER_SECOND

    def segment_done(self, segment: int) -> None:
        if 0 <= segment < len(self.segments) and not self.segments[segment].done:
            self.segments[segment].done = True
            self._undone -= 1

    @property
    def synthesised(self) -> bool:
        return self._undone == 0

    # --- sending --------------------------------------------------------------------------------

    def due(self, now: float) -> list[tuple[float, bytes]]:
        """The chunks to send now, each with the time its playout starts."""
        out: list[tuple[float, bytes]] = []
        # A chunk is due once it would start playing within ``lead``; the tolerance makes the time
        # next_send() names really due (no endless wake-ups on a float that never quite arrives).
        while self.queue and self.play_end - now <= self.lead + 1e-9:
            _, pcm = self.queue.popleft()
            starts = max(self.play_end, now)
            seconds = len(pcm) / BYTES_PER_SECOND
            self.play_end = starts + seconds
            self.sent_seconds += seconds
            out.append((starts, pcm))
        return out

    def next_send(self, now: float) -> float | None:
        """When the next queued chunk may go out (``None`` when nothing is queued)."""
        if not self.queue:
            return None
        return max(now, self.play_end - self.lead)

    def audible(self, now: float) -> bool:
        return bool(self.queue) or now < self.play_end

    # --- accounting -----------------------------------------------------------------------------

    def played_seconds(self, now: float) -> float:
        return max(0.0, self.sent_seconds - max(0.0, self.play_end - now))

    def heard(self, now: float) -> str:
        """The text the user heard by ``now``: whole segments, then the played share of the words
        of the segment that was playing."""
        remaining = self.played_seconds(now)
        words: list[str] = []
        for segment in self.segments:
            if remaining <= 0 or segment.seconds <= 0:
                break
            parts = segment.text.split()
            if remaining >= segment.seconds:
                words += parts
            else:
                words += parts[: int(len(parts) * remaining / segment.seconds)]
            remaining -= segment.seconds
        return " ".join(words)

    @property
    def text(self) -> str:
        return " ".join(segment.text for segment in self.segments)

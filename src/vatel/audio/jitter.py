"""The playback jitter buffer: agent audio queued per ``turn_id``, read by the device callback.

Rules (protocol.md §3.3 and §6, "what to fix"):

1. A turn starts playing once ``prebuffer`` seconds of it are queued, or its final chunk has
   arrived (a short utterance), so network jitter below the prebuffer is never heard.
2. Running dry before the turn's final chunk is an **underrun**: it is counted, the rest of the
   block is silence, and the turn prebuffers again. Running dry after the final chunk is the
   normal end of the turn (listed in :meth:`JitterBuffer.finished_turns`).
3. :meth:`JitterBuffer.flush` drops everything queued or playing of a turn, and every chunk of
   it pushed later; the very next :meth:`JitterBuffer.read` (one callback period) is silence.
4. Empty chunks carry no audio; an empty final chunk still ends its turn.

5. :attr:`muted` plays silence in place of the audio, with the same accounting (the agent goes
   on talking unheard; an interruption still cuts at the right place).
6. Given the time each block will be heard (``read(out, at)``), it keeps, per turn, how much
   was played and when that is heard (:meth:`heard_seconds`: the playout position), and when
   the turn's first audible sample is heard (:meth:`audible_turns`, for the turn latency).
   :attr:`peak` is the last block's peak level, for a level meter.

Two threads share it without locks: the event loop calls :meth:`push` and :meth:`flush`, the
PortAudio callback calls :meth:`read`. The only shared structures are a deque (atomic append /
popleft), a set of flushed turns (atomic add / membership) and counters with one writer each;
everything the reader plays from is owned by the reader.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum

import numpy as np

from vatel.audio.pcm import Float32

__all__ = ["AUDIBLE_LEVEL", "JitterBuffer", "PlayState"]

AUDIBLE_LEVEL = 0.001
"""A sample at or above this (-60 dBFS) is audible: where a turn's sound starts."""


class PlayState(Enum):
    IDLE = "idle"
    """Nothing to play (or waiting for a new turn's prebuffer)."""
    PREBUFFERING = "prebuffering"
    """A turn ran dry before its end; waiting for the prebuffer to fill again."""
    PLAYING = "playing"


@dataclass
class _Chunk:
    turn_id: str
    samples: Float32
    final: bool
    offset: int = 0

    @property
    def left(self) -> int:
        return len(self.samples) - self.offset


class JitterBuffer:
    """Audio at the device rate, mono float32. ``prebuffer`` is in seconds (at most 60 ms here)."""

    def __init__(self, rate: int, prebuffer: float = 0.06) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        if not 0 <= prebuffer <= 0.06:
            raise ValueError(f"prebuffer must be between 0 and 0.06 s, got {prebuffer}")
        self.rate = rate
        self.prebuffer_samples = round(prebuffer * rate)
        # shared: the writer appends, the reader pops
        self._inbox: deque[_Chunk] = deque()
        self._flushed: set[str] = set()
        self._flush_requests = 0  # written by the writer only
        self._finished: deque[str] = deque()  # appended by the reader, drained by the writer side
        # reader-owned
        self._queue: deque[_Chunk] = deque()
        self._queued = 0
        self._flushes_seen = 0
        self.state = PlayState.IDLE
        self.playing_turn: str | None = None
        # counters (one writer each)
        self.pushed_samples = 0
        self.played_samples = 0
        self.dropped_samples = 0
        self.underruns = 0
        self.muted = False
        """Written by the writer: play silence instead (same accounting)."""
        self.peak = 0.0
        """The last block's peak (absolute, before muting); written by the reader."""
        self._turn_played: dict[str, tuple[int, float]] = {}
        """Per turn: samples played, and when the last of them is heard (reader writes whole tuples)."""
        self._audible_seen: set[str] = set()  # reader-owned
        self._audible: deque[tuple[str, float]] = deque()  # appended by the reader, drained by the writer

    # --- writer side (the event loop) ---------------------------------------------------------------

    def push(self, turn_id: str, samples: Float32, final: bool = False) -> None:
        """Queue a chunk of ``turn_id``; ignored when that turn was flushed."""
        if turn_id in self._flushed or (len(samples) == 0 and not final):
            return
        self._inbox.append(_Chunk(turn_id, np.asarray(samples, dtype=np.float32), final))
        self.pushed_samples += len(samples)

    def flush(self, turn_id: str) -> None:
        """Drop ``turn_id`` now and for good: the next :meth:`read` no longer plays it."""
        self._flushed.add(turn_id)
        self._flush_requests += 1

    def is_flushed(self, turn_id: str) -> bool:
        return turn_id in self._flushed

    def finished_turns(self) -> list[str]:
        """Turns whose last sample has been played since the previous call (in order)."""
        done = []
        while self._finished:
            done.append(self._finished.popleft())
        return done

    def audible_turns(self) -> list[tuple[str, float]]:
        """``(turn_id, when its first audible sample is heard)`` since the previous call."""
        heard = []
        while self._audible:
            heard.append(self._audible.popleft())
        return heard

    def heard_seconds(self, turn_id: str, now: float) -> float:
        """How much of ``turn_id`` has been heard by ``now`` (the clock of ``read``'s ``at``)."""
        samples, heard_at = self._turn_played.get(turn_id, (0, now))
        return max(0.0, samples - max(0.0, heard_at - now) * self.rate) / self.rate

    @property
    def buffered_seconds(self) -> float:
        """Audio queued and not yet played (approximate while the reader runs)."""
        return max(0, self.pushed_samples - self.played_samples - self.dropped_samples) / self.rate

    # --- reader side (the PortAudio callback) -------------------------------------------------------

    @property
    def silent(self) -> bool:
        """Nothing to take, queue, flush or play: :meth:`read` would only write silence (reader side;
        lets the callback skip it, the common case while the user speaks or the agent listens)."""
        return (
            not self._inbox
            and not self._queue
            and self._flush_requests == self._flushes_seen
            and self.state is not PlayState.PLAYING
        )

    def read(self, out: Float32, at: float | None = None) -> None:
        """Fill ``out`` (mono, float32) with what to play now; silence where there is nothing.

        ``at``: when ``out[0]`` will be heard (for :meth:`heard_seconds` and :meth:`audible_turns`).
        """
        self._fill(out, at)
        if len(out):
            self.peak = float(np.max(np.abs(out)))
            if self.muted:
                out[:] = 0.0

    def _fill(self, out: Float32, at: float | None) -> None:
        self._take_inbox()
        if self._flush_requests != self._flushes_seen:
            self._flushes_seen = self._flush_requests
            self._apply_flushes()
        n = len(out)
        if self.state is not PlayState.PLAYING:
            has_final = any(chunk.final for chunk in self._queue)
            if self._queue and (self._queued >= self.prebuffer_samples or has_final):
                self.state = PlayState.PLAYING
            else:
                out[:] = 0.0
                return
        filled = 0
        while filled < n:
            if not self._queue:
                self.underruns += 1
                self.state = PlayState.PREBUFFERING
                break
            chunk = self._queue[0]
            take = min(n - filled, chunk.left)
            piece = chunk.samples[chunk.offset : chunk.offset + take]
            out[filled : filled + take] = piece
            if at is not None:
                self._played(chunk.turn_id, piece, at + filled / self.rate)
            chunk.offset += take
            filled += take
            self._queued -= take
            self.playing_turn = chunk.turn_id
            if chunk.left == 0:
                self._queue.popleft()
                if chunk.final:
                    self._finished.append(chunk.turn_id)
                    if not self._queue:
                        self.state = PlayState.IDLE
                        self.playing_turn = None
                        break
        out[filled:] = 0.0
        self.played_samples += filled

    def _played(self, turn_id: str, piece: Float32, at: float) -> None:
        """``piece`` of ``turn_id`` is heard from ``at`` on."""
        played, _ = self._turn_played.get(turn_id, (0, at))
        self._turn_played[turn_id] = (played + len(piece), at + len(piece) / self.rate)
        if turn_id not in self._audible_seen:
            loud = np.flatnonzero(np.abs(piece) >= AUDIBLE_LEVEL)
            if len(loud):
                self._audible_seen.add(turn_id)
                self._audible.append((turn_id, at + int(loud[0]) / self.rate))

    def _take_inbox(self) -> None:
        while self._inbox:
            chunk = self._inbox.popleft()
            if chunk.turn_id in self._flushed:
                self.dropped_samples += len(chunk.samples)
                continue
            self._queue.append(chunk)
            self._queued += len(chunk.samples)

    def _apply_flushes(self) -> None:
        kept: deque[_Chunk] = deque()
        for chunk in self._queue:
            if chunk.turn_id in self._flushed:
                self.dropped_samples += chunk.left
                self._queued -= chunk.left
            else:
                kept.append(chunk)
        self._queue = kept
        if self.playing_turn in self._flushed:
            self.playing_turn = None
            self.state = PlayState.IDLE

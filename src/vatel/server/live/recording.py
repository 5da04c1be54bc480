"""The call's stereo WAV (left: the user as received, right: the agent as sent), written as it goes.

Both channels are placed on one timeline (24 kHz from the start of the call) by the audio layer's
:class:`~vatel.audio.wav.StereoTimeline`: every flush appends the frames up to a point and
rewrites the header's sizes, so a ``kill -9`` loses at most the last second and the file still
plays; :func:`repair` fixes the header of a file cut mid-write.
"""

from __future__ import annotations

from pathlib import Path

from vatel.audio.wav import StereoTimeline, repair_wav

RATE = 24_000


class StereoRecorder(StereoTimeline):
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(path, RATE)

    def add_user(self, pcm: bytes, at: float | None = None) -> None:
        """The user's audio, in order as received, whose last sample arrived ``at`` seconds into
        the call. Audio carries its own clock, but a client may pause sending (no microphone, push
        to talk): a gap of more than 100 ms is filled with silence so later speech lands in time."""
        self.append_left(pcm, at)

    def add_agent(self, at: float, pcm: bytes) -> None:
        """Agent audio whose playout starts ``at`` seconds into the call."""
        self.place_right(round(at * RATE), pcm)

    def flush(self, up_to: float | None = None) -> None:
        """Write the frames up to ``up_to`` seconds (default: all the user audio received)."""
        super().flush(None if up_to is None else int(up_to * RATE))


def repair(path: Path) -> bool:
    """Make the header of a WAV cut mid-write match its data; ``True`` when it was changed."""
    return repair_wav(path)

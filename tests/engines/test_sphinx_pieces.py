"""pocketsphinx is fed in 10 ms pieces, so its GIL-holding decode never stalls the event loop for a
whole interim block (the stall itself is measured by benchmarks, not asserted here)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from vatel.server.engines.sphinx import PIECE_BYTES, SphinxStream

pytestmark = pytest.mark.unit


class RecordingDecoder:
    def __init__(self) -> None:
        self.pieces: list[bytes] = []

    def start_utt(self) -> None:
        pass

    def end_utt(self) -> None:
        pass

    def process_raw(self, pcm: bytes, no_search: bool, full_utt: bool) -> None:
        self.pieces.append(pcm)

    def hyp(self) -> Any:
        return None


class Owner:
    def _give_back(self, decoder: Any) -> None:
        pass


def test_a_block_is_decoded_in_pieces_of_at_most_10_ms_in_order() -> None:
    decoder = RecordingDecoder()
    stream = SphinxStream(Owner(), decoder)  # type: ignore[arg-type]
    audio = (np.arange(4_000) % 200 / 1000).astype(np.float32)  # 0.25 s at 16 kHz
    assert stream.feed(audio) == ""
    assert max(len(piece) for piece in decoder.pieces) <= PIECE_BYTES == 320
    joined = b"".join(decoder.pieces)
    assert len(joined) == 8_000 and np.array_equal(np.frombuffer(joined, "<i2")[:3], [0, 33, 66])
    stream.feed(np.zeros(0, dtype=np.float32))  # nothing to decode: no empty piece
    assert len(b"".join(decoder.pieces)) == 8_000 and all(decoder.pieces)

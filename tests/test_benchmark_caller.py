"""The latency benchmarks' natural caller (piper's joe voice) says the same texts with the same
audio in every run, so the runs' WER and false cuts can be compared."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

TESTS = Path(__file__).resolve().parent
SAY = (
    "import hashlib, sys; sys.path.insert(0, sys.argv[1]);"
    "from support.caller_speech import caller_says_naturally as say;"
    "print(hashlib.sha256(say('What are your opening hours?') + say('Thank you.')).hexdigest())"
)


def test_the_natural_caller_is_the_same_audio_in_every_process() -> None:
    pytest.importorskip("piper", reason="the natural caller needs the dev extra (piper-tts)")
    runs = [
        subprocess.run([sys.executable, "-c", SAY, str(TESTS)], capture_output=True, text=True, check=True)
        for _ in range(2)
    ]
    digests = [run.stdout.strip() for run in runs]
    assert len(digests[0]) == 64
    assert digests[0] == digests[1]

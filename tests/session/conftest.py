"""The virtual sound card for the end-to-end session tests, started once per test run.

CI needs nothing but this fixture: ``scripts/virtual-audio start`` installs its Debian packages
when missing (as root) and starts a private PulseAudio daemon (or, on a desktop whose sound
server answers, loads its devices into that one); teardown stops what it started.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.virtual_card import VirtualCard


@pytest.fixture(scope="session")
def virtual_card(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VirtualCard]:
    card = VirtualCard(tmp_path_factory.mktemp("virtual-audio"))
    try:
        card.start()
    except RuntimeError as error:
        if "missing Debian packages" in str(error):
            pytest.skip(str(error))
        raise
    try:
        yield card
    finally:
        card.stop()

"""Choosing a device by index or name, the table, and opening at a rate the device accepts."""

from __future__ import annotations

import pytest

from vatel.audio.devices import Device, candidate_rates, choose, format_table, open_stream
from vatel.audio.errors import DeviceChoiceError, DeviceOpenError, NoAudioError
from vatel.audio.portaudio import sounddevice

pytestmark = pytest.mark.unit

DEVICES = [
    Device(0, "HDA Intel PCH: ALC257 Analog", "ALSA", 2, 2, 44_100),
    Device(1, "USB Headset", "ALSA", 1, 2, 48_000, default_input=True),
    Device(2, "HDMI 0", "ALSA", 0, 8, 48_000, default_output=True),
    Device(3, "pulse", "ALSA", 32, 32, 44_100),
    Device(4, "pulse monitor", "ALSA", 2, 0, 44_100),
]


def test_defaults() -> None:
    assert choose(DEVICES, None, "input").index == 1
    assert choose(DEVICES, None, "output").index == 2
    no_defaults = [Device(7, "only", "ALSA", 1, 1, 16_000)]
    assert choose(no_defaults, "", "input").index == 7


def test_by_index_and_by_name() -> None:
    assert choose(DEVICES, "3", "input").index == 3
    assert choose(DEVICES, 0, "output").index == 0
    assert choose(DEVICES, "usb", "input").index == 1
    assert choose(DEVICES, "hdmi", "output").index == 2
    assert choose(DEVICES, "PULSE", "input").index == 3  # the exact name wins over "pulse monitor"


def test_a_name_that_matches_nothing_lists_the_choices() -> None:
    with pytest.raises(DeviceChoiceError) as info:
        choose(DEVICES, "bluetooth", "input")
    message = str(info.value)
    assert message.startswith("no input device matches 'bluetooth'; input devices: ")
    assert '1 "USB Headset"' in message and '4 "pulse monitor"' in message
    assert "HDMI" not in message  # not an input


def test_ambiguous_names_and_wrong_indexes() -> None:
    with pytest.raises(DeviceChoiceError, match=r"matches several output devices: .*give the index"):
        choose(DEVICES, "a", "output")
    with pytest.raises(DeviceChoiceError, match="there is no device 9; output devices: 0 "):
        choose(DEVICES, "9", "output")
    with pytest.raises(DeviceChoiceError, match='device 2 "HDMI 0" has no input channels'):
        choose(DEVICES, "2", "input")


def test_no_device_at_all_says_how_to_go_on() -> None:
    with pytest.raises(NoAudioError, match=r"no sound input device .*--input-file"):
        choose([Device(2, "HDMI 0", "ALSA", 0, 8, 48_000)], None, "input")


def test_the_table_marks_the_defaults() -> None:
    table = format_table(DEVICES).splitlines()
    assert table[2].startswith(">   ") and "USB Headset" in table[2]
    assert table[3].startswith(" <  ") and "HDMI 0" in table[3]
    assert table[-1] == "> default input, < default output"
    assert "no sound devices" in format_table([])


def test_the_default_rate_is_tried_first_then_common_rates() -> None:
    assert candidate_rates(DEVICES[0]) == [44_100, 48_000, 32_000, 24_000, 16_000]
    assert candidate_rates(Device(5, "x", "ALSA", 1, 0, 0)) == [48_000, 44_100, 32_000, 24_000, 16_000]


def test_invalid_sample_rate_is_never_fatal_while_some_rate_works() -> None:
    sd = sounddevice()
    tried: list[tuple[int, int]] = []

    def factory(rate: int, channels: int) -> str:
        tried.append((rate, channels))
        if rate != 16_000:
            raise sd.PortAudioError("Invalid sample rate [PaErrorCode -9997]")
        return f"stream@{rate}"

    assert open_stream(DEVICES[1], "input", factory) == "stream@16000"
    assert tried[0] == (48_000, 1)


def test_a_device_that_refuses_everything_is_one_clear_line() -> None:
    sd = sounddevice()

    def factory(rate: int, channels: int) -> str:
        raise sd.PortAudioError("Device unavailable")

    with pytest.raises(DeviceOpenError, match=r'cannot open input device 0 ".*" .*--input-device'):
        open_stream(DEVICES[0], "input", factory)

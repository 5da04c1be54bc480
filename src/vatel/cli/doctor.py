"""``vatel doctor``: is this machine ready for a voice session? Devices, microphone, echo, server.

Sections, each printing the fix for whatever it finds wrong:

* **Devices**: every sound device, the defaults marked, and which standard rates it accepts.
* **Microphone**: one second from the chosen input, judged by ``vatel.audio.mic_level`` (no
  signal at all, silent, too quiet, clipping, or ok with its level).
* **Speaker -> microphone**: a chirp played on the output while the input records
  (``vatel.audio.echo_path``): no echo path (good: nothing to cancel), or its delay and level
  (the session then needs headphones or echo cancellation).
* **Server**: with an API key, does the server answer and accept it; with a base URL but no key,
  does it answer (and the missing key fails); with neither, the embedded local server that
  ``vatel session`` starts, and whether its packages are installed.

Exit 0 when nothing failed, 1 otherwise. An echo path is a warning, not a failure (a session still
runs; the agent may hear itself): ``--strict`` makes warnings fail too.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from collections.abc import Sequence
from typing import Any

from vatel.audio.devices import Device, Kind, choose, list_devices
from vatel.audio.echo_path import chirp, find_echo
from vatel.audio.errors import AudioError, NoAudioError
from vatel.audio.mic_level import judge_capture
from vatel.audio.pcm import WIRE_RATE
from vatel.audio.soundcheck import Listening, accepted_rates
from vatel.cli.doctor_report import DeviceRates, Report
from vatel.client import DEFAULT_BASE_URL, Client
from vatel.errors import APIConnectionError, APIError, AuthenticationError, PermissionDeniedError

__all__ = ["register", "run_doctor"]

PROBE_SECONDS = 1.0
SKIPPABLE = ("devices", "microphone", "echo", "server")
"""Skipping ``devices`` skips every sound check (no device is even listed)."""
ENGINE_PACKAGES = {
    "onnxruntime": "onnxruntime",
    "silero_vad": "silero-vad",
    "faster_whisper": "faster-whisper",
    "pocketsphinx": "pocketsphinx",
    "hibari": "hibari-tts",
}
"""The speech engines' modules (and their distributions) the embedded server loads."""


def _say(text: str) -> None:
    print(f"vatel doctor: {text}", file=sys.stderr, flush=True)


# --- devices --------------------------------------------------------------------------------------


def check_devices(report: Report) -> list[Device] | None:
    """List the devices with their rates; ``None`` when PortAudio itself is unusable."""
    try:
        devices = list_devices()
        report.devices = [
            DeviceRates(
                d,
                accepted_rates(d, "input") if d.inputs else [],
                accepted_rates(d, "output") if d.outputs else [],
            )
            for d in devices
        ]
    except AudioError as error:
        report.add("devices", "fail", str(error), "install the audio extra and PortAudio as the message says")
        return None
    inputs = [d for d in devices if d.inputs]
    outputs = [d for d in devices if d.outputs]
    if not devices:
        report.add(
            "devices",
            "fail",
            "no sound devices at all: PortAudio lists nothing",
            "plug in a headset or start the sound server (PulseAudio/PipeWire); on a server, "
            "scripts/virtual-audio start makes a virtual card; without one, use "
            "`vatel session --input-file/--output-file`",
        )
        return devices
    for kind, found in (("input", inputs), ("output", outputs)):
        if not found:
            report.add(
                "devices",
                "fail",
                f"no {kind} device",
                f"connect a {_role(kind)}, then run vatel doctor again",
            )
    for entry in report.devices:
        for kind, rates, channels in (
            ("input", entry.input_rates, entry.device.inputs),
            ("output", entry.output_rates, entry.device.outputs),
        ):
            if channels and not rates:
                report.add(
                    "devices",
                    "info",
                    f"{entry.device.label()} accepts none of the standard rates as an {kind} "
                    f"(it may still open at its own {entry.device.default_rate} Hz)",
                )
    if inputs and outputs:
        report.add("devices", "ok", f"{_count(inputs, 'input')} and {_count(outputs, 'output')}")
    return devices


def _count(devices: Sequence[Device], kind: str) -> str:
    return f"{len(devices)} {kind} device{'' if len(devices) == 1 else 's'}"


def _role(kind: Kind | str) -> str:
    return "microphone" if kind == "input" else "speaker or headphones"


def _chosen(
    report: Report, section: str, devices: Sequence[Device], spec: str | None, kind: Kind
) -> Device | None:
    try:
        return choose(devices, spec, kind)
    except NoAudioError:  # the Devices section has said so, with the fix
        report.add(section, "skip", f"not checked: no {kind} device")
        return None
    except AudioError as error:
        report.add(
            section, "fail", str(error), f"pick a {_role(kind)} from the Devices table with --{kind}-device"
        )
        return None


# --- microphone -----------------------------------------------------------------------------------


def check_microphone(report: Report, listening: Listening) -> None:
    device = listening.device
    _say(f"listening to {device.label()} for {PROBE_SECONDS:g} s: say something")
    try:
        capture = listening.record(PROBE_SECONDS)
    except AudioError as error:
        report.add("microphone", "fail", str(error), "choose another microphone with --input-device")
        return
    report.headings["microphone"] = f"{device.label()} at {capture.rate} Hz"
    level = judge_capture(capture.samples, capture.rate)
    report.add(
        "microphone",
        "fail" if level.problem else "ok",
        level.summary(),
        level.fix(sys.platform),
        {
            "verdict": level.verdict.value,
            "rate": capture.rate,
            "seconds": round(level.seconds, 3),
            "peak_dbfs": round(level.peak_dbfs, 1),
            "level_dbfs": round(level.level_dbfs, 1),
            "floor_dbfs": round(level.floor_dbfs, 1),
            "clipped": level.clipped,
        },
    )


# --- speaker -> microphone ------------------------------------------------------------------------


def check_echo(report: Report, output: Device, listening: Listening) -> None:
    report.headings["echo"] = f"{output.label()} -> {listening.device.label()}"
    played = chirp(WIRE_RATE)
    _say(f"playing a short chirp on {output.label()} and listening on {listening.device.label()}")
    try:
        capture = listening.play(output, played, WIRE_RATE)
    except AudioError as error:
        report.add("echo", "fail", str(error), "choose other devices with --output-device/--input-device")
        return
    echo = find_echo(played, capture.samples, capture.rate, capture.played_at)
    figures: dict[str, Any] = {
        "found": echo.found,
        "prominence": round(echo.prominence, 1),
        "correlation": round(echo.correlation, 3),
    }
    if echo.found:
        assert echo.level_db is not None
        delay = _delay_phrase(echo.delay_ms)
        report.add(
            "echo",
            "warn",
            f"echo: the speaker comes back into the microphone {delay}, at {_db(echo.level_db)} dB "
            "relative to what was played",
            "the agent will hear itself and may interrupt itself: use headphones, turn the speaker down, "
            "or use echo cancellation (AEC) with at least this delay",
            {
                **figures,
                "delay_ms": None if echo.delay_ms is None else round(echo.delay_ms, 1),
                "level_db": round(echo.level_db, 1) + 0.0,
            },
        )
    elif echo.capture_silent:
        report.add(
            "echo",
            "skip",
            "no echo found, but the microphone delivered only exact zeros, so this proves nothing",
            data=figures,
        )
    else:
        report.add(
            "echo",
            "ok",
            "no echo path: the chirp did not come back into the microphone (good: nothing for echo "
            "cancellation to do)",
            data=figures,
        )


def _delay_phrase(delay_ms: float | None) -> str:
    if delay_ms is None:
        return "(delay unknown: the devices give no timestamps)"
    if delay_ms < 0:  # an echo cannot come first: the two devices' clocks disagree
        return f"at once (the devices' timestamps are {-delay_ms:.0f} ms apart, so the delay is unknown)"
    return f"{delay_ms:.0f} ms later"


def _db(value: float) -> str:
    return f"{round(value, 1) + 0.0:.1f}"  # + 0.0: no "-0.0"


# --- server ---------------------------------------------------------------------------------------


def check_server(report: Report, api_key: str | None, base_url: str | None, timeout: float) -> None:
    if not api_key and not base_url:
        report.headings["server"] = "the embedded local server (no API key given)"
        _check_server_packages(report)
        return
    url = base_url or DEFAULT_BASE_URL
    report.headings["server"] = url
    try:
        client = Client(api_key=api_key or None, base_url=url, timeout=timeout, max_retries=0)
    except ValueError as error:
        report.add(
            "server",
            "fail",
            f"bad base URL: {error}",
            "pass an http(s) URL with --base-url or VATEL_BASE_URL",
        )
        return
    with client:
        try:
            org = client.organization.get()
        except APIConnectionError as error:
            report.add(
                "server",
                "fail",
                f"no answer: {error}",
                "is the server running? check --base-url or VATEL_BASE_URL (and any proxy or firewall)",
            )
            return
        except (AuthenticationError, PermissionDeniedError) as error:
            if not api_key:
                report.add("server", "ok", f"{url} answers")
            else:
                report.add(
                    "server",
                    "fail",
                    f"{url} answers but refuses the API key ({error.status_code}: {error})",
                    "check --api-key or VATEL_API_KEY; for `vatel serve` the key is in its data dir "
                    "(<data dir>/api-key) or made with `vatel keys create`",
                )
                return
        except APIError as error:
            report.add(
                "server",
                "fail",
                f"{url} answers, but not as a Vatel server: {error}",
                "check --base-url or VATEL_BASE_URL",
            )
            return
        else:
            if api_key:
                name = org.name or "?"
                report.add("server", "ok", f"{url} answers and the API key works (organization {name})")
                return
            report.add("server", "ok", f"{url} answers")
    report.add(
        "server",
        "fail",
        "no API key for this server",
        "pass --api-key or set VATEL_API_KEY (or drop --base-url to use the embedded local server)",
    )


def _check_server_packages(report: Report) -> None:
    missing = []
    try:
        importlib.import_module("vatel.server.app")
    except ModuleNotFoundError as error:
        missing.append(error.name or "?")
    missing += [dist for module, dist in ENGINE_PACKAGES.items() if importlib.util.find_spec(module) is None]
    if missing:
        report.add(
            "server",
            "fail",
            f"`vatel session` with no API key starts a local server, but its packages are missing: "
            f"{', '.join(missing)}",
            "pip install 'vatel[server]' (in a checkout: uv sync --extra server), or pass --api-key",
        )
        return
    report.add(
        "server",
        "ok",
        "no API key: `vatel session` will start the embedded local server; its packages are installed",
    )


# --- the command ----------------------------------------------------------------------------------


def run_doctor(args: argparse.Namespace) -> int:
    report = Report()
    skip = set(args.skip or ())
    if "devices" not in skip:
        check_sound(report, args, [s for s in ("microphone", "echo") if s not in skip])
    if "server" not in skip:
        check_server(report, args.api_key, args.base_url, args.timeout)
    print(report.json(args.strict) if args.json else report.text(args.strict), flush=True)
    return report.exit_code(args.strict)


def check_sound(report: Report, args: argparse.Namespace, sections: list[str]) -> None:
    """The Devices section, then the microphone and echo sections that are not skipped."""
    devices = check_devices(report)
    if not devices:
        for section in sections:
            report.add(section, "skip", "not checked: no sound devices")
        return
    if not sections:
        return
    mic = _chosen(report, sections[0], devices, args.input_device, "input")
    speaker = _chosen(report, "echo", devices, args.output_device, "output") if "echo" in sections else None
    if mic is None:
        if speaker is not None:
            report.add("echo", "skip", "not checked: no usable input device")
        return
    try:
        with Listening(mic) as listening:  # one input stream for both probes: it starts and settles once
            if "microphone" in sections:
                check_microphone(report, listening)
            if speaker is not None:
                check_echo(report, speaker, listening)
    except AudioError as error:
        report.add(sections[0], "fail", str(error), "choose another microphone with --input-device")
        if speaker is not None and sections[0] != "echo":
            report.add("echo", "skip", "not checked: the microphone did not start")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    doctor = commands.add_parser(
        "doctor",
        help="check the sound devices, microphone, echo and server, and say how to fix what is wrong",
        description="Check that this machine is ready for `vatel session`: the sound devices and the "
        "rates they accept, a one-second microphone probe, a chirp played on the speaker to measure "
        "any echo into the microphone, and the server and API key. Exits 1 when a check fails "
        "(an echo path only warns, unless --strict).",
    )
    doctor.add_argument("--input-device", metavar="INDEX|NAME", help="microphone (default: the system's)")
    doctor.add_argument("--output-device", metavar="INDEX|NAME", help="speaker (default: the system's)")
    doctor.add_argument(
        "--api-key", default=os.environ.get("VATEL_API_KEY") or None, help="API key (VATEL_API_KEY)"
    )
    doctor.add_argument(
        "--base-url",
        default=os.environ.get("VATEL_BASE_URL") or None,
        help=f"server (VATEL_BASE_URL; default {DEFAULT_BASE_URL} with a key; with no key at all, the "
        "embedded local server is checked)",
    )
    doctor.add_argument(
        "--timeout", type=_positive_float, default=5.0, metavar="SECONDS", help="per server request"
    )
    doctor.add_argument(
        "--skip",
        action="append",
        choices=SKIPPABLE,
        metavar="SECTION",
        help=f"skip a section ({', '.join(SKIPPABLE)}); repeatable",
    )
    doctor.add_argument("--strict", action="store_true", help="warnings (an echo path) fail too")
    doctor.add_argument("--json", action="store_true", help="print the findings as JSON")
    doctor.set_defaults(run=run_doctor)

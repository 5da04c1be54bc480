"""``vatel doctor``'s server section and its garbage, against real loopback servers (no sound card:
``--skip devices`` keeps PortAudio out of it; the sound sections run in tests/session/test_doctor_card.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.fake_server import FakeServer, closed_port
from support.serve_process import Serve
from vatel.cli import main
from vatel.cli.doctor_report import Report

pytestmark = pytest.mark.loopback


@pytest.fixture(autouse=True)
def no_ambient_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VATEL_API_KEY", raising=False)
    monkeypatch.delenv("VATEL_BASE_URL", raising=False)


def doctor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["doctor", "--skip", "devices", "--timeout", "3", *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def lines_of(out: str, section: str) -> list[str]:
    """The lines of one section of the text report (its heading first)."""
    blocks = out.split("\n\n")
    found = [block for block in blocks if block.startswith(section)]
    assert found, f"no {section} section in:\n{out}"
    return found[0].splitlines()


def test_an_unreachable_server_fails_with_the_fix(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    code, out, _ = doctor(capsys, "--base-url", url, "--api-key", "vtl_x")
    assert code == 1
    section = lines_of(out, "Server")
    assert section[0] == f"Server: {url}"
    assert (
        section[1].startswith("  FAIL  no answer: GET /v1/organization: cannot reach") and url in section[1]
    )
    assert section[2].startswith("        fix: is the server running? check --base-url")
    assert out.rstrip().endswith("1 failed, 0 warned (exit 1)")


def test_a_refused_key_fails_and_says_where_keys_come_from(
    capsys: pytest.CaptureFixture[str], fake_server: FakeServer
) -> None:
    fake_server.reply("GET", "/v1/organization", 401, json={"error": "invalid API key"})
    code, out, _ = doctor(capsys, "--base-url", fake_server.url, "--api-key", "vtl_wrong")
    assert code == 1
    section = lines_of(out, "Server")
    assert "answers but refuses the API key (401" in section[1]
    assert "check --api-key or VATEL_API_KEY" in section[2] and "vatel keys create" in section[2]
    assert fake_server.last.headers["authorization"] == "Bearer vtl_wrong"


def test_a_working_key_passes(
    capsys: pytest.CaptureFixture[str], fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_server.reply("GET", "/v1/organization", json={"id": "org_1", "name": "Acme"})
    monkeypatch.setenv("VATEL_API_KEY", "vtl_good")  # the variables work like the flags
    monkeypatch.setenv("VATEL_BASE_URL", fake_server.url)
    code, out, _ = doctor(capsys)
    assert code == 0, out
    assert f"  OK    {fake_server.url} answers and the API key works (organization Acme)" in out
    assert out.rstrip().endswith("vatel doctor: all good (exit 0)")
    assert fake_server.last.headers["authorization"] == "Bearer vtl_good"


def test_a_base_url_without_a_key_is_reached_then_fails_for_the_key(
    capsys: pytest.CaptureFixture[str], fake_server: FakeServer
) -> None:
    fake_server.reply("GET", "/v1/organization", 401, json={"error": "missing API key"})
    code, out, _ = doctor(capsys, "--base-url", fake_server.url)
    assert code == 1
    section = lines_of(out, "Server")
    assert section[1] == f"  OK    {fake_server.url} answers"
    assert section[2] == "  FAIL  no API key for this server"
    assert "pass --api-key or set VATEL_API_KEY" in section[3]


@pytest.mark.parametrize("status", [404, 500])
def test_something_that_is_not_a_vatel_server(
    capsys: pytest.CaptureFixture[str], fake_server: FakeServer, status: int
) -> None:
    fake_server.reply("GET", "/v1/organization", status, body=b"<html>nginx</html>")
    code, out, _ = doctor(capsys, "--base-url", fake_server.url, "--api-key", "vtl_x")
    assert code == 1
    assert "answers, but not as a Vatel server" in out
    assert "fix: check --base-url or VATEL_BASE_URL" in out


def test_a_malformed_base_url(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = doctor(capsys, "--base-url", "ftp://nowhere", "--api-key", "vtl_x")
    assert code == 1
    assert "FAIL  bad base URL: " in out
    assert "fix: pass an http(s) URL with --base-url" in out


def test_no_key_checks_the_embedded_server_packages(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = doctor(capsys)
    assert code == 0, out
    section = lines_of(out, "Server")
    assert section[0] == "Server: the embedded local server (no API key given)"
    assert "will start the embedded local server; its packages are installed" in section[1]


def test_json_for_machines(capsys: pytest.CaptureFixture[str]) -> None:
    import orjson

    url = f"http://127.0.0.1:{closed_port()}"
    code, out, _ = doctor(capsys, "--json", "--base-url", url, "--api-key", "vtl_x")
    document = orjson.loads(out)
    assert code == 1
    assert document["ok"] is False and document["exit_code"] == 1
    assert document["devices"] == []
    [finding] = document["findings"]
    assert finding["section"] == "server" and finding["status"] == "fail"
    assert finding["fix"].startswith("is the server running?")


@pytest.mark.parametrize(
    "args",
    [
        ("--bogus",),
        ("--skip", "everything"),
        ("--timeout", "-1"),
        ("--timeout", "soon"),
        ("--input-device",),
    ],
)
def test_bad_options_are_refused_by_the_parser(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["doctor", *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "usage: vatel" in err and "error: " in err and "Traceback" not in err


@pytest.mark.unit
def test_warnings_pass_unless_strict() -> None:
    report = Report()
    report.add("echo", "warn", "echo", "use headphones")
    report.add("devices", "info", "a note")
    report.add("microphone", "skip", "not checked")
    assert report.exit_code(strict=False) == 0
    assert report.exit_code(strict=True) == 1
    assert report.text(strict=True).endswith("0 failed, 1 warned (--strict: warnings fail) (exit 1)")
    report.add("server", "fail", "down", "start it")
    assert report.exit_code(strict=False) == 1


def test_against_a_real_vatel_serve(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The key check on the real server: its own key passes, a made-up one fails."""
    server = Serve(tmp_path / "data")
    try:
        key = (tmp_path / "data" / "api-key").read_text().strip()
        good, good_out, _ = doctor(capsys, "--base-url", server.url, "--api-key", key)
        bad, bad_out, _ = doctor(capsys, "--base-url", server.url, "--api-key", "vtl_" + "0" * 40)
    finally:
        server.stop()
    assert good == 0, good_out
    assert f"OK    {server.url} answers and the API key works (organization " in good_out
    assert bad == 1
    assert f"FAIL  {server.url} answers but refuses the API key (401" in bad_out


@pytest.mark.unit
def test_how_an_echo_delay_is_said() -> None:
    from vatel.cli.doctor import _delay_phrase

    assert _delay_phrase(31.4) == "31 ms later"
    assert _delay_phrase(None) == "(delay unknown: the devices give no timestamps)"
    assert _delay_phrase(-12.0).startswith("at once (the devices' timestamps are 12 ms apart")


@pytest.mark.unit
def test_a_machine_with_only_a_speaker(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No PortAudio needed: the device list is given, so only the report's logic runs."""
    from vatel.audio.devices import Device
    from vatel.cli import doctor as doctor_module

    hdmi = Device(0, "HDMI 0", "ALSA", 0, 8, 48_000, default_output=True)
    monkeypatch.setattr(doctor_module, "list_devices", lambda: [hdmi])
    monkeypatch.setattr(doctor_module, "accepted_rates", lambda device, kind: [])
    code = main(["doctor", "--skip", "server"])
    out = capsys.readouterr().out
    assert code == 1
    devices = lines_of(out, "Devices")
    [row] = [line for line in devices if "HDMI 0" in line and "accepts" not in line]
    assert row.startswith("   <") and row.endswith("  out -")  # the default output; no standard rate
    assert "  FAIL  no input device" in devices
    assert "        fix: connect a microphone, then run vatel doctor again" in devices
    info = (
        '  INFO  0 "HDMI 0" accepts none of the standard rates as an output '
        "(it may still open at its own 48000 Hz)"
    )
    assert info in devices
    assert lines_of(out, "Microphone")[1] == "  SKIP  not checked: no input device"
    assert lines_of(out, "Speaker -> microphone")[1] == "  SKIP  not checked: no usable input device"

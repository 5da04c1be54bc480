"""What ``vatel doctor`` found, as data: findings per section, rendered as text for people or JSON.

A finding is ``ok``, ``warn`` (works, but worth knowing: an echo path), ``fail`` (a session would
not work as it should), ``info`` or ``skip`` (not checked, and why). Every ``warn`` and ``fail``
carries the fix. The exit code is 1 when anything failed (or, with ``--strict``, warned), else 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from vatel.audio.devices import Device

__all__ = ["DeviceRates", "Finding", "Report", "Status"]

Status = Literal["ok", "warn", "fail", "info", "skip"]

SECTIONS = {
    "devices": "Devices",
    "microphone": "Microphone",
    "echo": "Speaker -> microphone",
    "server": "Server",
}


@dataclass(frozen=True)
class Finding:
    section: str
    status: Status
    summary: str
    fix: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DeviceRates:
    """A device and the standard rates it accepts each way."""

    device: Device
    input_rates: list[int]
    output_rates: list[int]


@dataclass
class Report:
    devices: list[DeviceRates] = field(default_factory=list)
    headings: dict[str, str] = field(default_factory=dict)
    """Per section, what was checked (``1 "default" at 44100 Hz``)."""
    findings: list[Finding] = field(default_factory=list)

    def add(
        self,
        section: str,
        status: Status,
        summary: str,
        fix: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> Finding:
        finding = Finding(section, status, summary, fix, data or {})
        self.findings.append(finding)
        return finding

    def count(self, status: Status) -> int:
        return sum(1 for f in self.findings if f.status == status)

    def exit_code(self, strict: bool) -> int:
        failed = self.count("fail") + (self.count("warn") if strict else 0)
        return 1 if failed else 0

    # --- rendering ------------------------------------------------------------------------------

    def text(self, strict: bool) -> str:
        lines: list[str] = []
        for section, title in SECTIONS.items():
            findings = [f for f in self.findings if f.section == section]
            if not findings and not (section == "devices" and self.devices):
                continue
            heading = self.headings.get(section)
            lines.append(f"{title}: {heading}" if heading else title)
            if section == "devices" and self.devices:
                lines += ["  " + row for row in device_table(self.devices)]
            for finding in findings:
                lines.append(f"  {finding.status.upper():<5} {finding.summary}")
                if finding.fix:
                    lines.append(f"        fix: {finding.fix}")
            lines.append("")
        problems, warnings = self.count("fail"), self.count("warn")
        verdict = "all good" if not problems and not warnings else f"{problems} failed, {warnings} warned"
        if strict and warnings:
            verdict += " (--strict: warnings fail)"
        lines.append(f"vatel doctor: {verdict} (exit {self.exit_code(strict)})")
        return "\n".join(lines)

    def json(self, strict: bool) -> str:
        document = {
            "ok": self.exit_code(strict) == 0,
            "exit_code": self.exit_code(strict),
            "devices": [
                {
                    "index": d.device.index,
                    "name": d.device.name,
                    "host_api": d.device.host_api,
                    "inputs": d.device.inputs,
                    "outputs": d.device.outputs,
                    "default_rate": d.device.default_rate,
                    "default_input": d.device.default_input,
                    "default_output": d.device.default_output,
                    "input_rates": d.input_rates,
                    "output_rates": d.output_rates,
                }
                for d in self.devices
            ],
            "findings": [
                {"section": f.section, "status": f.status, "summary": f.summary, "fix": f.fix, **f.data}
                for f in self.findings
            ],
        }
        return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()


def _khz(rates: Sequence[int]) -> str:
    return " ".join(f"{rate / 1000:g}" for rate in rates) if rates else "-"


def device_table(devices: Sequence[DeviceRates]) -> list[str]:
    """The devices, defaults marked as in ``vatel devices``, with the rates each accepts (kHz)."""
    width = max(len(d.device.name) for d in devices)
    rows = [f"    {'#':>3}  {'name':<{width}}  {'in':>3} {'out':>3}  input rates (kHz) / output rates (kHz)"]
    for entry in devices:
        d = entry.device
        mark = (">" if d.default_input else " ") + ("<" if d.default_output else " ")
        rates = []
        if d.inputs:
            rates.append(f"in {_khz(entry.input_rates)}")
        if d.outputs:
            rates.append(f"out {_khz(entry.output_rates)}")
        rows.append(
            f"{mark}  {d.index:>3}  {d.name:<{width}}  {d.inputs:>3} {d.outputs:>3}  {' / '.join(rates)}"
        )
    rows.append("> default input, < default output")
    return rows

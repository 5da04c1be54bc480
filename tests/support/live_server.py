"""A real ``vatel serve`` app on loopback in this process (uvicorn in a thread), and its clients."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx

import vatel
from vatel.server import ServerSettings, create_app
from vatel.server.runner import ServerThread


@dataclass
class LiveServer:
    url: str
    key: str
    settings: ServerSettings

    def client(self, **options: object) -> vatel.Client:
        return vatel.Client(api_key=self.key, base_url=self.url, max_retries=0, **options)  # type: ignore[arg-type]

    def http(self, key: str | None = "default") -> httpx.Client:
        """A raw HTTP client (for what the SDK would refuse to send), authorised unless key=None."""
        headers = {} if key is None else {"Authorization": f"Bearer {self.key if key == 'default' else key}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def start_live(data_dir: Path, database_url: str) -> tuple[ServerThread, LiveServer]:
    keys: list[str] = []
    settings = ServerSettings(
        data_dir=data_dir, database_url=None if database_url.startswith("sqlite") else database_url
    )
    app = create_app(settings, on_first_key=keys.append)
    runner = ServerThread(app).start()
    key = keys[0] if keys else (data_dir / "api-key").read_text().strip()
    return runner, LiveServer(runner.url, key, settings)

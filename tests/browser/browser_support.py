"""What the browser tests share besides fixtures: the handle on a running server."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path


class LiveServer:
    """A running ``webmagic serve`` and the folders it writes to."""

    def __init__(self, url: str, data_dir: Path, env: dict[str, str]) -> None:
        self.url = url
        self.data_dir = data_dir
        self.env = env

    @property
    def mail_dir(self) -> Path:
        return self.data_dir / "mail"

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the admin CLI against this server's database."""
        script = Path(sys.executable).with_name("webmagic")
        return subprocess.run(
            [str(script), *args], env=self.env, capture_output=True, text=True, timeout=60, check=False
        )

    def wait_for_mail(self, predicate: Callable[[str], bool], timeout: float = 20.0) -> str:
        """The text of the first ``.eml`` file for which ``predicate`` holds, waiting for the relay."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for path in sorted(self.mail_dir.glob("*.eml")):
                text = path.read_text(encoding="utf-8", errors="replace")
                if predicate(text):
                    return text
            time.sleep(0.2)
        raise AssertionError(f"no matching mail in {self.mail_dir} after {timeout} s")

"""Screenshot of the app for the README: start it, upload an example in headless Chromium, capture.

Needs Debian's chromium (`apt-get install chromium`) and `pip install playwright` (never
`playwright install`). Run: ``python docs/make_screenshot.py [AUDIO [OUT.png]]``; the README's two:

    python docs/make_screenshot.py examples/disco_groove.mp3 docs/screenshot.png
    espeak-ng -w /tmp/speech.wav "Good morning and welcome to the news. ..."   # made here, not committed
    python docs/make_screenshot.py /tmp/speech.wav docs/screenshot-speech.png
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parents[1]


def main(example: str = "examples/disco_groove.mp3", out: str = "docs/screenshot.png") -> None:
    outside: list[str] = []
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    app = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=env)
    try:
        for _ in range(240):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            # the app promises no requests beyond its own server
            page.on("request", lambda r: None if r.url.startswith((f"http://127.0.0.1:{port}", "data:", "blob:"))
                    else outside.append(r.url))
            page.goto(f"http://127.0.0.1:{port}/")
            page.locator("input[type=file]").first.set_input_files(str((REPO / example).resolve()))
            page.get_by_text(re.compile("Runner-up|Not music")).first.wait_for(timeout=120_000)
            page.wait_for_timeout(1500)
            page.screenshot(path=str(REPO / out), full_page=True)
            browser.close()
    finally:
        app.terminate()
        app.wait(timeout=30)
    print(f"wrote {out}; requests to other hosts: {outside or 'none'}")


if __name__ == "__main__":
    main(*sys.argv[1:])

"""Screenshot of the app for the README: start it, upload an example in headless Chromium, capture.

Needs Debian's chromium (`apt-get install chromium`) and `pip install playwright` (never
`playwright install`). Run: ``python docs/make_screenshot.py [AUDIO [OUT.png]]``; the README's three:

    python docs/make_screenshot.py examples/disco_groove.mp3 docs/screenshot.png
    espeak-ng -w /tmp/speech.wav "Good morning and welcome to the news. Today we talk about the weather, \
        the traffic on the roads, and a few letters from our listeners. Stay with us after the break."
    python docs/make_screenshot.py /tmp/speech.wav docs/screenshot-speech.png
    python docs/make_screenshot.py --album docs/screenshot-album.png   # the Album tab with five files

``--album`` classifies two examples, ten seconds of white noise, a file that is not audio and a third
example (the noise and the broken file are made in a temp folder, as tests/test_browser.py makes them).
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parents[1]


def album_files(folder: Path) -> list[Path]:
    """The Album screenshot's five files: jazz, metal, white noise, a broken file, classical strings."""
    import numpy as np
    import soundfile as sf

    noise, broken = folder / "white_noise.wav", folder / "broken_file.mp3"
    sf.write(noise, (0.3 * np.random.default_rng(0).standard_normal(10 * 22050)).astype(np.float32), 22050)
    broken.write_bytes(b"this is not audio\n" * 200)
    examples = REPO / "examples"
    return [examples / "jazz_swing.ogg", examples / "metal_riff.mp3", noise, broken, examples / "classical_strings.ogg"]


def show_album(page, files: list[Path]) -> None:
    page.get_by_role("tab", name="Album").click()
    page.locator("input[type=file][multiple]").first.set_input_files([str(f) for f in files])
    for f in files:
        page.locator(f"td.filename[aria-label='{f.name}']").wait_for()
    page.get_by_role("button", name="Classify all").click()
    page.get_by_test_id(f"cell-{len(files) - 1}-0").wait_for(timeout=240_000)


def main(example: str = "examples/disco_groove.mp3", out: str | None = None) -> None:
    out = out or ("docs/screenshot-album.png" if example == "--album" else "docs/screenshot.png")
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
            if example == "--album":
                with tempfile.TemporaryDirectory(prefix="album-shot-") as folder:
                    show_album(page, album_files(Path(folder)))
            else:
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

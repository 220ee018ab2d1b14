"""The app in a real headless Chromium: upload, see the answer, stay offline, fail politely.

Needs Debian's ``chromium`` at /usr/bin/chromium and the ``playwright`` Python package
(never ``playwright install``: the system browser is used); skipped when either is missing.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from genre_models.labels import GTZAN_GENRES

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(f"no system Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install playwright)")

REPO = Path(__file__).resolve().parents[1]
FIRST_ANSWER_MS = 120_000  # first analysis includes model loading and numba/JIT warm-up on a slow CI box
BLOCK = "xpath=ancestor::div[contains(concat(' ', normalize-space(@class), ' '), ' block ')][1]"


APP_LOG: list[Path] = []  # the running app's console (stdout and stderr)


@pytest.fixture(scope="module")
def app_port(default_app):
    """The session's ``python app.py`` on a loopback port with the default ensemble (shipped musicnn +
    YAMNet, offline): conftest's ``default_app``, shared with test_app and test_load."""
    APP_LOG.append(default_app.log)
    return default_app.port


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield b
        b.close()


@pytest.fixture
def page(browser, app_port):
    """A fresh page on the app that records every request going anywhere but the app itself."""
    context = browser.new_context(viewport={"width": 1280, "height": 1400})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    own = (f"http://127.0.0.1:{app_port}/", f"ws://127.0.0.1:{app_port}/", "data:", "blob:")
    pg.outside = []  # type: ignore[attr-defined]
    pg.on("request", lambda r: None if r.url.startswith(own) else pg.outside.append(r.url))
    pg.goto(f"http://127.0.0.1:{app_port}/")
    pg.get_by_text("Music genre classifier").first.wait_for()  # the Svelte app has rendered
    yield pg
    context.close()


def block(page, label: str):
    """The Gradio block whose label reads exactly ``label``."""
    return page.get_by_test_id("block-label").filter(has_text=re.compile(rf"^\s*{re.escape(label)}\s*$")).locator(BLOCK)


def upload_song(page, path: Path) -> None:
    block(page, "Song").locator("input[type=file]").set_input_files(str(path))


def test_upload_shows_probabilities_spectrogram_and_timeline(page, tmp_path):
    upload_song(page, REPO / "examples" / "disco_groove.mp3")
    page.get_by_text("Runner-up").wait_for(timeout=FIRST_ANSWER_MS)

    # (1) every genre with a percentage in the Label
    probs = block(page, "Genre probabilities")
    rows = probs.locator("[data-testid$='-confidence-set']")
    sync_api.expect(rows).to_have_count(len(GTZAN_GENRES))
    shown = {}
    for i in range(rows.count()):
        name = rows.nth(i).locator("dt").inner_text().strip()
        pct = rows.nth(i).locator("dd").inner_text().strip()
        assert re.fullmatch(r"\d{1,3}(\.\d+)?%", pct), (name, pct)
        shown[name] = float(pct.rstrip("%"))
    assert set(shown) == set(GTZAN_GENRES)
    assert 90 <= sum(shown.values()) <= 110  # rounded percentages still add up to about 100
    top = probs.get_by_test_id("label-output-value").inner_text().strip()
    assert top in GTZAN_GENRES and shown[top] == max(shown.values())

    # (2) the spectrogram is a real, loaded picture
    spec = block(page, "Mel spectrogram").locator("img").first
    spec.scroll_into_view_if_needed()  # the <img> is loading="lazy"
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=spec.element_handle())
    assert spec.evaluate("img => img.naturalWidth") > 400
    assert spec.evaluate("img => img.naturalHeight") > 150

    # (3) the timeline plot is drawn
    plot = block(page, "Genre along the track")
    plot.scroll_into_view_if_needed()
    drawn = plot.locator("img, canvas, svg").filter(visible=True)  # matplotlib <img>, or plotly/altair svg
    drawn.first.wait_for()
    boxes = [b for b in (drawn.nth(i).bounding_box() for i in range(drawn.count())) if b]
    assert max(b["width"] for b in boxes) > 200 and max(b["height"] for b in boxes) > 100, boxes  # not the icon

    # (5) a full-page screenshot worth looking at
    shot = tmp_path / "app.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 50_000

    # (4) nothing left the machine: every request went to the app itself
    assert page.outside == []


def test_not_audio_shows_a_message_not_a_traceback(page, tmp_path):
    fake = tmp_path / "notes.wav"
    fake.write_text("these are my notes, not a song\n" * 40)
    upload_song(page, fake)
    toast = page.get_by_test_id("toast-text").filter(has_text="not audio")
    toast.first.wait_for(timeout=FIRST_ANSWER_MS)
    assert "not audio" in page.locator("body").inner_text()
    assert "Traceback" not in page.content()
    assert page.outside == []


def test_album_tab_classifies_three_files_and_offers_csv(page, app_port):
    page.get_by_role("tab", name="Album").click()  # waits for the tab to be drawn
    files = [REPO / "examples" / n for n in ("disco_groove.mp3", "jazz_swing.ogg", "metal_riff.mp3")]
    picker = block(page, "Audio files")
    picker.locator("input[type=file]").set_input_files([str(f) for f in files])
    for f in files:  # all three uploaded before classifying
        picker.locator(f"td.filename[aria-label='{f.name}']").wait_for()
    page.get_by_role("button", name="Classify all").click()

    # the Dataframe: label "Genres", cells carry data-testid="cell-<row>-<col>"
    table = page.locator(".table-container .label").filter(has_text=re.compile(r"^\s*Genres\s*$")).locator(BLOCK)
    first_col = table.locator("[data-testid^='cell-'][data-testid$='-0']")
    sync_api.expect(first_col).to_have_count(3, timeout=FIRST_ANSWER_MS)
    sync_api.expect(first_col).to_have_text([f.name for f in files])
    genres = [table.get_by_test_id(f"cell-{r}-1").inner_text().strip() for r in range(3)]
    assert all(g in GTZAN_GENRES for g in genres), genres

    link = block(page, "CSV").locator("a[data-testid='download-link'][download$='.csv']")
    sync_api.expect(link).to_have_count(1, timeout=FIRST_ANSWER_MS)
    assert link.get_attribute("href").startswith(f"http://127.0.0.1:{app_port}/")
    assert "Traceback" not in page.content()
    assert page.outside == []


# the album table's layout, measured in the page: header row, each body row (cells "cell-<row>-<col>"), the
# scrolling viewport, and each header cell's text, width and height
ALBUM_LAYOUT = """() => {
  const table = [...document.querySelectorAll('.table-container')]
    .find(t => t.querySelector("[data-testid='cell-0-0']"));
  const box = e => { const b = e.getBoundingClientRect(); return {top: b.top, bottom: b.bottom, left: b.left,
                                                                   right: b.right, width: b.width, height: b.height}; };
  const heads = [...table.querySelectorAll("[role='columnheader']")];
  const view = table.querySelector('.virtual-table-viewport');
  const rows = [...table.querySelectorAll("[data-testid^='cell-'][data-testid$='-0']")].map(c => c.parentElement);
  return {header: box(heads[0].closest("[role='row']")), view: box(view),
          scroll: {height: view.scrollHeight, client: view.clientHeight},
          heads: heads.map(h => ({text: h.innerText.trim(), ...box(h)})),
          rows: rows.map(r => ({cells: [...r.querySelectorAll("[data-testid^='cell-']")].map(c => c.innerText.trim()),
                                ...box(r)})),
          cells: rows.map(r => [...r.querySelectorAll("[data-testid^='cell-']")].map(box))};
}"""


def test_album_tab_reads_at_a_glance(page, tmp_path):
    """Five files (two examples, noise, a broken file, another example): a header of one or two lines,
    every row in view without scrolling, probabilities as percentages, the problem of the broken file in
    view; the Song tab shows no track details, as no loaded model reads them; the app's console is quiet."""
    import numpy as np
    import soundfile as sf

    assert not page.get_by_text("Track details").is_visible()  # the default ensemble reads no metadata
    noise = tmp_path / "white_noise.wav"
    sf.write(noise, (0.3 * np.random.default_rng(0).standard_normal(10 * 22050)).astype(np.float32), 22050)
    broken = tmp_path / "broken_file.mp3"
    broken.write_bytes(b"this is not audio\n" * 200)
    files = [REPO / "examples" / "jazz_swing.ogg", REPO / "examples" / "metal_riff.mp3", noise, broken,
             REPO / "examples" / "classical_strings.ogg"]
    page.get_by_role("tab", name="Album").click()
    picker = block(page, "Audio files")
    picker.locator("input[type=file]").set_input_files([str(f) for f in files])
    for f in files:
        picker.locator(f"td.filename[aria-label='{f.name}']").wait_for()
    page.get_by_role("button", name="Classify all").click()
    page.get_by_test_id(f"cell-{len(files) - 1}-0").wait_for(timeout=FIRST_ANSWER_MS)
    page.get_by_test_id("cell-0-0").scroll_into_view_if_needed()
    page.wait_for_timeout(500)  # column widths settle after the rows are drawn
    shot = tmp_path / "album.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 30_000
    layout = page.evaluate(ALBUM_LAYOUT)

    heads = {h["text"]: h for h in layout["heads"]}
    assert layout["header"]["height"] < 80, layout["header"]  # one or two lines (it was 457 px)
    wide = heads["wider genres (AudioSet)"]
    assert wide["width"] > 100 and wide["height"] < 80, wide  # its header in words, not a letter per line
    rows = layout["rows"]
    assert [r["cells"][0] for r in rows] == [f.name for f in files]
    assert layout["scroll"]["height"] <= layout["scroll"]["client"] + 1  # no scrolling inside the table
    view = layout["view"]
    for r in rows:  # every row wholly in view, below the header
        assert r["top"] >= layout["header"]["bottom"] - 1 and r["bottom"] <= view["bottom"] + 1, (r, view)
        assert r["bottom"] <= page.viewport_size["height"], r
    names = [h["text"] for h in layout["heads"]]
    genre, problem = names.index("genre"), names.index("problem")
    jazz = names.index("jazz")
    from test_shipped_models import EXPECTED  # the default's pinned answers on the examples

    assert [rows[i]["cells"][genre] for i in (0, 1, 4)] == [EXPECTED[f.name][1] for f in (files[0], files[1], files[4])]
    assert re.fullmatch(r"\d{1,3}%", rows[0]["cells"][jazz]), rows[0]["cells"]  # a percentage, not 0.662
    assert rows[3]["cells"][genre] == "" and "not audio" in rows[3]["cells"][problem]
    assert layout["cells"][3][problem]["right"] <= view["right"] + 1  # why it failed, without scrolling sideways
    assert "Traceback" not in page.content()
    assert page.outside == []

    console = APP_LOG[0].read_text()
    assert "Loading weights" not in console and "libmpg123" not in console and "share=True" not in console, console
    assert "Music genre classifier on http://127.0.0.1:" in console

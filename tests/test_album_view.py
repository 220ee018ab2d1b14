"""The app's Album table as shown, and the Song tab's track details, without a browser (issue L.10);
tests/test_browser.py measures the same in the page."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def app():
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    sys.path.insert(0, str(REPO))
    import app

    return app


def album_table(app) -> pd.DataFrame:
    labels = ["blues", "classical", "jazz"]
    rows = [["jazz_swing.ogg", "jazz", "jazz 66%, blues 30%, classical 4%", "yes", "", "", 0.30, 0.04, 0.66],
            ["broken_file.mp3", "", "", "", "", "This file is not audio we can read (the decoder does not "
                                                 "recognise it).", None, None, None]]
    return pd.DataFrame(rows, columns=["file", "genre", "top 3", "music?", "wider genres (AudioSet)", "problem",
                                       *labels])


def test_album_view_shows_percentages_and_keeps_the_numbers(app):
    import gradio as gr

    view = gr.Dataframe(interactive=False).postprocess(app.album_view(album_table(app)))  # what the page gets
    assert view.data[0][6:] == [0.30, 0.04, 0.66]  # API clients still get the probabilities
    shown = view.metadata["display_value"]
    assert shown[0][6:] == ["30%", "4%", "66%"] and shown[1][6:] == ["", "", ""]
    assert "linear-gradient" in view.metadata["styling"][0][8]  # the bar under 66%
    assert view.metadata["styling"][1][8] == ""  # no bar where there is no answer


def test_album_columns_fit_their_text(app):
    from genre_models.labels import GTZAN_GENRES

    columns = ["file", "genre", "top 3", "music?", "wider genres (AudioSet)", "problem", *GTZAN_GENRES]
    widths = dict(zip(columns, app.album_widths(list(GTZAN_GENRES))))
    assert widths.pop("file") == "auto"  # as long as the file names are
    px = {name: float(w.removesuffix("px")) for name, w in widths.items()}
    assert 110 <= px["wider genres (AudioSet)"] <= 150  # its header on two lines, not one letter per line
    assert px["classical"] > px["jazz"] >= 60  # each as wide as its header (the cells are "66%")
    assert px["music?"] >= len("no: silence") * 7 and px["genre"] >= len("classical") * 7
    # the columns before the probabilities fit a 1280-px window beside file names of ~20 characters
    assert sum(px[c] for c in ("genre", "top 3", "music?", "wider genres (AudioSet)", "problem")) < 1000


def visible_inputs(demo) -> dict[str, bool]:
    return {block.label: block.visible for block in demo.blocks.values()
            if getattr(block, "label", None) in ("Title", "Artist", "Listens", "Comments", "Favorites")}


def accordion_visible(demo) -> bool:
    return next(b.visible for b in demo.blocks.values() if getattr(b, "label", None)
                and str(b.label).startswith("Track details"))


def test_track_details_only_for_models_that_read_them(app, monkeypatch):
    assert app.metadata_read() == set()  # the default ensemble reads audio only
    assert not accordion_visible(app.demo)
    stats = SimpleNamespace(model=SimpleNamespace(name="fma-stats", metadata_fields=("listens", "comments",
                                                                                      "favorites")))
    audio = SimpleNamespace(model=SimpleNamespace(name="gtzan-musicnn"))
    groups = app.ENSEMBLE.groups()  # the album table's labels
    monkeypatch.setattr(app, "ENSEMBLE", SimpleNamespace(members=[audio, stats], groups=lambda: groups))
    demo = app.build_demo()
    assert accordion_visible(demo)
    assert visible_inputs(demo) == {"Title": False, "Artist": False, "Listens": True, "Comments": True,
                                    "Favorites": True}
    assert any("Read by fma-stats;" in str(getattr(b, "value", "")) for b in demo.blocks.values())

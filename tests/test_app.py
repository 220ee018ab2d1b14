"""The app end to end: a real server on loopback with its default ensemble (conftest's session-wide
``default_app``), driven through gradio_client like a Space user; and the fallback when the
configured model cannot be loaded."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from test_shipped_models import EXPECTED

from genre_models.labels import GTZAN_GENRES

REPO = Path(__file__).resolve().parents[1]


DEFAULT_MEMBERS = [Path(m["model"]).name for m in
                   json.loads((REPO / "genre_models" / "pretrained" / "ensemble.json").read_text())["models"]]
CONFIDENT_EXAMPLE = "classical_strings.ogg"  # the default ensemble says classical, 98 % (test_shipped_models)


@pytest.fixture(scope="module")
def client(default_app):
    from gradio_client import Client

    return Client(default_app.url, verbose=False)


def example() -> Path:
    files = sorted(p for p in (REPO / "examples").iterdir() if p.suffix in {".mp3", ".ogg", ".flac", ".wav"})
    assert files, "examples/ has no audio: run python examples/make_examples.py"
    return files[0]


def shown_tags(summary: str) -> list[str]:
    """The tags the summary's **Tags** line names (musicnn's 50 Million Song Dataset tags)."""
    tags_line = next(line for line in summary.splitlines() if line.startswith("**Tags**"))
    return [part.rsplit(" ", 1)[0] for part in tags_line.split(": ", 1)[1].split(", ")]


def test_classify_an_example(client):
    """The default ensemble (genre_models/pretrained/ensemble.json) answers: the right genre, every
    member's vote, the music check, the tags from the musicnn member's own pass, no model left out."""
    from gradio_client import handle_file

    label, summary, image, plot = client.predict(handle_file(str(REPO / "examples" / CONFIDENT_EXAMPLE)),
                                                 api_name="/classify")
    probs = {c["label"]: c["confidence"] for c in label["confidences"]}
    assert set(probs) == set(GTZAN_GENRES)
    assert abs(sum(probs.values()) - 1) < 1e-4
    assert label["label"] == max(probs, key=probs.get)
    written_as, answered = EXPECTED[CONFIDENT_EXAMPLE]
    assert label["label"] == answered == written_as and probs[answered] > 0.5, probs
    assert summary.startswith(f"### {answered} (") and "window" in summary  # music: no "Not music" heading
    # each member of the default ensemble votes in the table; none was left out, nothing to warn about
    votes = {Path(row.split("|")[1].strip()).name: row.split("|")[2].strip() for row in summary.splitlines()
             if row.startswith("| ") and not row.startswith("| model")}
    assert sorted(votes) == sorted(DEFAULT_MEMBERS) and all(v in GTZAN_GENRES for v in votes.values()), summary
    assert "left out" not in summary and "⚠️" not in summary, summary
    # beside the genre: the top 5 of musicnn's 50 Million Song Dataset tags, from the member's own pass
    from genre_models.hf_models.musicnn import MSD_TAGS

    shown = shown_tags(summary)
    assert len(shown) == 5 and set(shown) <= set(MSD_TAGS)
    from PIL import Image

    with Image.open(image) as im:  # the spectrogram is a real picture
        assert im.size[0] > 400 and im.size[1] > 150
        assert np.asarray(im).std() > 10
    assert plot and plot.get("type") == "matplotlib" and plot.get("plot")


def test_missing_model_falls_back_to_the_features_model(tmp_path, monkeypatch):
    """A configured model that cannot be loaded is named and left out, and the embedded features model
    answers (with the tags from the separate musicnn tagger). The app's own ``classify`` in this
    process: a second server would cost a start-up for one request."""
    monkeypatch.setenv("GENRE_MODELS", str(tmp_path / "missing-model"))
    monkeypatch.delenv("GENRE_ENSEMBLE", raising=False)
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    spec = importlib.util.spec_from_file_location("app_with_a_missing_model", REPO / "app.py")
    app = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, app)  # Gradio looks its components' classes up there
    spec.loader.exec_module(app)
    assert [m.model.name for m in app.ENSEMBLE.members] == ["gtzan-features (default)"], app.ENSEMBLE.problems
    probs, summary, image, plot = app.classify(str(example()))
    assert set(probs) == set(GTZAN_GENRES) and abs(sum(probs.values()) - 1) < 1e-6
    assert max(probs, key=probs.get) in summary and "window" in summary
    assert "missing-model" in summary and "left out" in summary
    from genre_models.hf_models.musicnn import MSD_TAGS

    shown = shown_tags(summary)
    assert len(shown) == 5 and set(shown) <= set(MSD_TAGS)
    assert image is not None and image.size[0] > 400 and plot is not None


@pytest.mark.parametrize("kind", ["text", "blip", "empty"])
def test_bad_uploads_get_a_message_not_a_traceback(client, tmp_path, kind):
    from gradio_client import handle_file

    path = tmp_path / f"{kind}.wav"
    if kind == "text":
        path.write_text("not audio at all\n" * 100)
    elif kind == "blip":
        sf.write(path, np.zeros(1000, np.float32), 22050)
    else:
        path.write_bytes(b"")
    with pytest.raises(Exception) as info:
        client.predict(handle_file(str(path)), api_name="/classify")
    msg = str(info.value)
    assert "Traceback" not in msg
    assert any(word in msg for word in ("not audio", "only 0.05 s", "empty", "no samples")), msg


def test_album_tab_classifies_many_files_and_explains_bad_ones(client, tmp_path):
    import csv

    from gradio_client import handle_file

    files = sorted(p for p in (REPO / "examples").iterdir() if p.suffix in {".mp3", ".ogg", ".flac"})[:3]
    broken = tmp_path / "broken.mp3"
    broken.write_bytes(b"nope" * 500)
    table, csv_path = client.predict([handle_file(str(p)) for p in [*files, broken]], api_name="/classify_album")
    rows = table["data"]
    assert table["headers"] == ["file", "genre", "top 3", "music?", "wider genres (AudioSet)", "problem",
                                *GTZAN_GENRES]
    assert [r[0] for r in rows] == [p.name for p in files] + ["broken.mp3"]
    for row in rows[:3]:  # the project's examples are music; their AudioSet genre scores are too faint to name
        assert row[1] in GTZAN_GENRES and row[3] == "yes" and row[4] == ""
        assert abs(sum(row[6:]) - 1) < 1e-3 and row[5] == ""  # numbers: the percentages are only the display
    assert rows[3][1] == "" and "not audio" in rows[3][5]
    with open(csv_path, newline="") as fh:
        written = list(csv.DictReader(fh))
    assert [r["path"] for r in written] == [p.name for p in files]
    assert list(written[0]) == ["path", "genre", *GTZAN_GENRES, "music", "wide_genre"]
    assert all(r["music"] == "music" for r in written)

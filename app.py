"""Gradio app: upload or record a song, see its genre, its spectrogram and the genre along the track.

Runs locally (``python app.py``) and as a Hugging Face Space. Models come from ``GENRE_ENSEMBLE``
(an ensemble.json) or ``GENRE_MODELS`` (comma-separated folders or Hub ids); with nothing
configured, or when none of them loads, the embedded GTZAN features model answers, offline.
"""
from __future__ import annotations

import csv
import logging
import os
import tempfile
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import gradio as gr  # noqa: E402
import pandas as pd  # noqa: E402

from genre_models import AudioLoadError, Prediction  # noqa: E402
from genre_models.ensemble import Ensemble  # noqa: E402
from genre_models.plots import SpectrogramAccumulator, timeline_figure, to_image  # noqa: E402

log = logging.getLogger("genre_app")
HERE = Path(__file__).resolve().parent
EXAMPLES_DIR = HERE / "examples"
AUDIO_SUFFIXES = {".mp3", ".wav", ".flac", ".ogg", ".m4a"}
MAX_SECONDS = float(os.environ.get("GENRE_MAX_SECONDS", 20 * 60))
MAX_FILE_SIZE = os.environ.get("GENRE_MAX_FILE_SIZE", "200mb")
MAX_ALBUM_FILES = int(os.environ.get("GENRE_MAX_ALBUM_FILES", 30))


def configured_ensemble() -> Ensemble:
    """The environment's choice; else an ``ensemble.json`` next to this file (a Space ships one)."""
    env = dict(os.environ)
    if not env.get("GENRE_ENSEMBLE") and not env.get("GENRE_MODELS") and (HERE / "ensemble.json").is_file():
        env["GENRE_ENSEMBLE"] = str(HERE / "ensemble.json")
    return Ensemble.from_environment(env)


ENSEMBLE = configured_ensemble()


def _fmt_time(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def summarise(answers: list[Prediction]) -> str:
    """Sentences a person can read: the answer, how sure, which part of the song drove it, each vote."""
    pred = answers[0]
    (g1, p1), (g2, p2) = pred.top(2)
    n = len(pred.window_spans)
    lines = [f"### {g1} ({p1:.0%})",
             f"Runner-up: {g2} ({p2:.0%}). Analysed {_fmt_time(pred.duration)} in {n} window{'s' if n != 1 else ''}."]
    if n > 1:
        i = pred.labels.index(g1)
        best = int(pred.window_probs[:, i].argmax())
        start, end = pred.window_spans[best]
        lines.append(f"The most *{g1}* part is {_fmt_time(start)}–{_fmt_time(end)} ({pred.window_probs[best, i]:.0%}).")
    for other in answers[1:]:
        g, p = other.top(1)[0]
        lines.append(f"\nModels with another label set ({len(other.labels)} labels) say **{g}** ({p:.0%}).")
    votes = [m for a in answers for m in (a.members or [a])]
    if len(votes) > 1:
        lines.append("\n| model | vote | probability |\n|---|---|---|")
        lines += [f"| {m.model} | {m.genre} | {m.probs.max():.0%} |" for m in votes]
    lines += [f"\n⚠️ {p}" for p in ENSEMBLE.problems]
    return "\n".join(lines)


def analyse(audio_path: str, spectrogram: SpectrogramAccumulator | None = None) -> list[Prediction]:
    """All label-set groups' answers; bad input raises AudioLoadError, anything else is logged."""
    return ENSEMBLE.predict(audio_path, max_seconds=MAX_SECONDS, on_window=spectrogram.add if spectrogram else None)


def classify(audio_path: str | None):
    """Endpoint ``/classify``: probabilities, summary, spectrogram image and timeline plot."""
    if not audio_path:
        raise gr.Error("Upload a song or record one first.")
    spectrogram = SpectrogramAccumulator(ENSEMBLE.groups()[0][0].model.sample_rate)
    try:
        answers = analyse(audio_path, spectrogram)
    except AudioLoadError as err:
        raise gr.Error(str(err), title="Cannot analyse this file") from None
    except Exception:  # never a traceback in the UI; the log keeps it
        log.exception("analysis failed for %s", audio_path)
        raise gr.Error("Something went wrong while analysing this file. Please try another file.") from None
    pred = answers[0]
    return pred.as_dict(), summarise(answers), to_image(spectrogram.figure()), timeline_figure(pred)


def classify_album(files: list[str] | None):
    """Endpoint ``/classify_album``: one table row per file (bad files say why) and the same rows as CSV."""
    if not files:
        raise gr.Error("Choose one or more audio files first.")
    if len(files) > MAX_ALBUM_FILES:
        raise gr.Error(f"At most {MAX_ALBUM_FILES} files at a time, please ({len(files)} were given).")
    labels = ENSEMBLE.groups()[0][0].model.labels
    table, csv_rows = [], []
    for path in files:
        name = Path(path).name
        try:
            pred = analyse(path)[0]
        except AudioLoadError as err:
            table.append([name, "", "", *[None] * len(labels), str(err)])
            continue
        except Exception:
            log.exception("album analysis failed for %s", path)
            table.append([name, "", "", *[None] * len(labels), "could not be analysed"])
            continue
        top3 = ", ".join(f"{g} {p:.0%}" for g, p in pred.top(3))
        probs = [round(float(p), 4) for p in pred.probs]
        table.append([name, pred.genre, top3, *probs, ""])
        csv_rows.append([name, pred.genre, *probs])
    out = Path(tempfile.mkdtemp(prefix="genre-album-")) / "genres.csv"
    with out.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "genre", *labels])
        writer.writerows(csv_rows)
    return pd.DataFrame(table, columns=["file", "genre", "top 3", *labels, "problem"]), str(out)


def example_files() -> list[str]:
    return sorted(str(p) for p in EXAMPLES_DIR.glob("*") if p.suffix.lower() in AUDIO_SUFFIXES)


def build_demo() -> gr.Blocks:
    with gr.Blocks(title="Music genre classifier") as demo:
        gr.Markdown(
            "# Music genre classifier\n"
            "Upload a song (wav, mp3, flac, ogg, m4a) or record one. The whole track is scored in windows: "
            "you get every genre's probability, the spectrogram, and how the genre changes along the song. "
            f"Limits: {MAX_SECONDS / 60:.0f} minutes of audio, {MAX_FILE_SIZE} per file. "
            f"Model(s): {', '.join(m.model.name for m in ENSEMBLE.members)}."
        )
        with gr.Tab("Song"):
            with gr.Row():
                with gr.Column(scale=1):
                    audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Song")
                    button = gr.Button("Classify", variant="primary")
                    examples = example_files()
                    if examples:
                        gr.Examples(examples=examples, inputs=audio, label="Examples (made by this project)")
                with gr.Column(scale=1):
                    label = gr.Label(num_top_classes=10, label="Genre probabilities")
                    summary = gr.Markdown()
            spectrogram = gr.Image(label="Mel spectrogram", type="pil", interactive=False)
            timeline = gr.Plot(label="Genre along the track")
        with gr.Tab("Album"):
            gr.Markdown(f"Classify many files at once (up to {MAX_ALBUM_FILES}); download the table as CSV.")
            album = gr.File(file_count="multiple", file_types=["audio"], label="Audio files")
            album_button = gr.Button("Classify all", variant="primary")
            album_table = gr.Dataframe(label="Genres", interactive=False, wrap=True)
            album_csv = gr.File(label="CSV", interactive=False)
        outputs = [label, summary, spectrogram, timeline]
        button.click(classify, inputs=audio, outputs=outputs, api_name="classify")
        audio.upload(classify, inputs=audio, outputs=outputs, api_name=False)
        audio.stop_recording(classify, inputs=audio, outputs=outputs, api_name=False)
        album_button.click(classify_album, inputs=album, outputs=[album_table, album_csv], api_name="classify_album")
    demo.queue(default_concurrency_limit=2, max_size=32)
    return demo


demo = build_demo()

if __name__ == "__main__":
    demo.launch(max_file_size=MAX_FILE_SIZE)

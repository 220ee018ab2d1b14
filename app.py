"""Gradio app: upload or record a song, see its genre, its spectrogram and the genre along the track.

Runs locally (``python app.py``) and as a Hugging Face Space. Models come from ``GENRE_MODELS``
(comma-separated folders or Hub ids); with nothing configured, or when none of them loads, the
embedded GTZAN features model answers, offline.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import gradio as gr  # noqa: E402

from genre_models import AudioLoadError, Prediction, combine, load_model, predict  # noqa: E402
from genre_models.plots import SpectrogramAccumulator, timeline_figure, to_image  # noqa: E402
from genre_models.registry import WindowClassifier  # noqa: E402

log = logging.getLogger("genre_app")
HERE = Path(__file__).resolve().parent
EXAMPLES_DIR = HERE / "examples"
AUDIO_SUFFIXES = {".mp3", ".wav", ".flac", ".ogg", ".m4a"}
MAX_SECONDS = float(os.environ.get("GENRE_MAX_SECONDS", 20 * 60))
MAX_FILE_SIZE = os.environ.get("GENRE_MAX_FILE_SIZE", "200mb")


def load_models(spec: str | None) -> tuple[list[WindowClassifier], list[str]]:
    """The configured models, plus a line for each that failed; the default model if none loads."""
    models, problems = [], []
    for name in [s.strip() for s in (spec or "").split(",") if s.strip()]:
        try:
            models.append(load_model(name))
        except Exception as err:  # any broken model must not take the app down
            problems.append(f"model `{name}` could not be loaded ({err}); it is left out")
            log.warning("model %s not loaded: %s", name, err)
    if not models:
        models.append(load_model(None))
    return models, problems


MODELS, MODEL_PROBLEMS = load_models(os.environ.get("GENRE_MODELS"))


def _fmt_time(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def summarise(pred: Prediction) -> str:
    """A sentence a person can read: the answer, how sure, and which part of the song drove it."""
    (g1, p1), (g2, p2) = pred.top(2)
    n = len(pred.window_spans)
    lines = [f"### {g1} ({p1:.0%})",
             f"Runner-up: {g2} ({p2:.0%}). Analysed {_fmt_time(pred.duration)} in {n} window{'s' if n != 1 else ''}."]
    if len(pred.window_spans) > 1:
        i = pred.labels.index(g1)
        best = int(pred.window_probs[:, i].argmax())
        start, end = pred.window_spans[best]
        lines.append(f"The most *{g1}* part is {_fmt_time(start)}–{_fmt_time(end)} ({pred.window_probs[best, i]:.0%}).")
    if pred.members:
        lines.append("\n| model | vote | probability |\n|---|---|---|")
        lines += [f"| {m.model} | {m.genre} | {m.probs.max():.0%} |" for m in pred.members]
    lines += [f"\n⚠️ {p}" for p in MODEL_PROBLEMS]
    return "\n".join(lines)


def classify(audio_path: str | None):
    """Endpoint ``/classify``: probabilities, summary, spectrogram image and timeline plot."""
    if not audio_path:
        raise gr.Error("Upload a song or record one first.")
    spectrogram = None
    preds = []
    try:
        for model in MODELS:
            acc = SpectrogramAccumulator(model.sample_rate) if spectrogram is None else None
            preds.append(predict(audio_path, model, max_seconds=MAX_SECONDS, on_window=acc.add if acc else None))
            if acc is not None:
                spectrogram = acc
        pred = combine(preds)
    except AudioLoadError as err:
        raise gr.Error(str(err), title="Cannot analyse this file") from None
    except Exception:  # never a traceback in the UI; the log keeps it
        log.exception("analysis failed for %s", audio_path)
        raise gr.Error("Something went wrong while analysing this file. Please try another file.") from None
    return pred.as_dict(), summarise(pred), to_image(spectrogram.figure()), timeline_figure(pred)


def example_files() -> list[str]:
    return sorted(str(p) for p in EXAMPLES_DIR.glob("*") if p.suffix.lower() in AUDIO_SUFFIXES)


def build_demo() -> gr.Blocks:
    with gr.Blocks(title="Music genre classifier") as demo:
        gr.Markdown(
            "# Music genre classifier\n"
            "Upload a song (wav, mp3, flac, ogg, m4a) or record one. The whole track is scored in windows: "
            "you get every genre's probability, the spectrogram, and how the genre changes along the song. "
            f"Limits: {MAX_SECONDS / 60:.0f} minutes of audio, {MAX_FILE_SIZE} per file. "
            f"Model(s): {', '.join(m.name for m in MODELS)}."
        )
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
        outputs = [label, summary, spectrogram, timeline]
        button.click(classify, inputs=audio, outputs=outputs, api_name="classify")
        audio.upload(classify, inputs=audio, outputs=outputs, api_name=False)
        audio.stop_recording(classify, inputs=audio, outputs=outputs, api_name=False)
    demo.queue(default_concurrency_limit=2, max_size=32)
    return demo


demo = build_demo()

if __name__ == "__main__":
    demo.launch(max_file_size=MAX_FILE_SIZE)

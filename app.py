"""Gradio app: upload or record a song, see its genre, its spectrogram and the genre along the track.

Runs locally (``python app.py``) and as a Hugging Face Space. Models come from ``GENRE_ENSEMBLE``
(an ensemble.json) or ``GENRE_MODELS`` (comma-separated folders or Hub ids); with nothing
configured, the shipped default ensemble answers (musicnn + YAMNet heads,
``genre_models/pretrained/ensemble.json``), offline. When none of the configured models loads, the
embedded GTZAN features model answers.
"""
from __future__ import annotations

import atexit
import csv
import logging
import os
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from genre_models import quiet  # noqa: E402

quiet.configure()  # the console shows the app's own messages; GENRE_VERBOSE=1 lets the libraries talk too

import gradio as gr  # noqa: E402
import pandas as pd  # noqa: E402
from gradio.utils import NamedString  # noqa: E402
from gradio_client import utils as client_utils  # noqa: E402

from genre_models import AudioLoadError, Prediction  # noqa: E402
from genre_models.audio import stream_audio  # noqa: E402
from genre_models.ensemble import Ensemble  # noqa: E402
from genre_models.metadata import STAT_FIELDS, MetadataRequiredError, TrackMetadata  # noqa: E402
from genre_models.plots import SpectrogramAccumulator, timeline_figure, to_image  # noqa: E402
from genre_models.tagging import tags_of  # noqa: E402
from genre_models.timeline import sections  # noqa: E402
from genre_models.windows import Window  # noqa: E402

log = logging.getLogger("genre_app")
HERE = Path(__file__).resolve().parent
EXAMPLES_DIR = HERE / "examples"
AUDIO_SUFFIXES = {".mp3", ".wav", ".flac", ".ogg", ".m4a"}
MAX_SECONDS = float(os.environ.get("GENRE_MAX_SECONDS", 20 * 60))
MAX_FILE_SIZE = os.environ.get("GENRE_MAX_FILE_SIZE", "200mb")
MAX_ALBUM_FILES = int(os.environ.get("GENRE_MAX_ALBUM_FILES", 30))
# work per request is bounded: one song <= MAX_SECONDS; an album stops analysing once this much audio is done
MAX_ALBUM_SECONDS = float(os.environ.get("GENRE_MAX_ALBUM_SECONDS", 60 * 60))
# uploads and outputs (Gradio's cache, our album CSVs) are deleted this long after they were written;
# it must exceed the longest queue wait + analysis (32 waiting x ~25 s / 2 workers ~ 7 min), or an
# upload could vanish before its request runs
CACHE_SECONDS = int(os.environ.get("GENRE_CACHE_SECONDS", 30 * 60))
QUEUE_WORKERS, QUEUE_SIZE = 2, 32  # a CPU Space has 2 vCPUs: 2 analyses at a time, 32 waiting at most
ALBUM_DIR = Path(tempfile.mkdtemp(prefix="genre-album-"))
atexit.register(shutil.rmtree, ALBUM_DIR, True)


def configured_ensemble() -> Ensemble:
    """The environment's choice; else an ``ensemble.json`` next to this file (a Space ships one)."""
    env = dict(os.environ)
    if not env.get("GENRE_ENSEMBLE") and not env.get("GENRE_MODELS") and (HERE / "ensemble.json").is_file():
        env["GENRE_ENSEMBLE"] = str(HERE / "ensemble.json")
    return Ensemble.from_environment(env)


ENSEMBLE = configured_ensemble()
# musicnn's 50 Million Song Dataset tags shown beside the genre; GENRE_TAGGER=none turns them off.
TAGGER_DIR = os.environ.get("GENRE_TAGGER", str(HERE / "genre_models" / "pretrained" / "msd-musicnn"))
TAG_MAX_PATCHES = int(os.environ.get("GENRE_TAG_MAX_PATCHES", 20))  # 3-s patches per song, spread evenly
_TAGGER: list = []  # [MusicTagger or None], loaded on first use
_TAGGER_LOCK = threading.Lock()
# beside each request's genre models: its spectrogram (and a tagger for ensembles without the tags)
TAG_POOL = ThreadPoolExecutor(max_workers=2 * QUEUE_WORKERS, thread_name_prefix="extras")
SPECTROGRAM_RATE = 22050


def tagger():
    """The musicnn tagger, loaded once; None (and the tags line hidden) if it is off or missing."""
    with _TAGGER_LOCK:  # two requests may ask for it at once
        return _load_tagger()


def _load_tagger():
    if not _TAGGER:
        found = None
        if TAGGER_DIR.lower() not in ("", "none", "0") and (Path(TAGGER_DIR) / "config.json").is_file():
            try:
                from genre_models.tagging import MusicTagger

                found = MusicTagger.load(TAGGER_DIR, max_patches=TAG_MAX_PATCHES)
            except Exception:  # tags are an extra: never let them take the genre answer down
                log.exception("musicnn tagger at %s could not be loaded", TAGGER_DIR)
        _TAGGER.append(found)
    return _TAGGER[0]


def tags_line(audio_path: str) -> str:
    """``**Tags** (musicnn, Million Song Dataset): rock 52%, guitar 31%, ...`` from a separate tagger
    pass, or "" without a tagger (for ensembles whose members do not give the tags themselves)."""
    model = tagger()
    if model is None:
        return ""
    try:
        return format_tags(model.tag_file(audio_path, max_seconds=MAX_SECONDS))
    except AudioLoadError as err:  # the genre answer already says what is wrong with the file
        log.warning("no tags for %s: %s", audio_path, err)
        return ""
    except Exception:
        log.exception("tagging failed for %s", audio_path)
        return ""


def format_tags(tags) -> str:
    return ("\n\n**Tags** (musicnn, Million Song Dataset; independent scores): "
            + ", ".join(f"{t} {p:.0%}" for t, p in tags.top(5)))


def members_give_tags() -> bool:
    """Whether a member keeps musicnn's tagger (the shipped musicnn genre model does): then the tags come
    from its own pass and no separate tagger runs."""
    return any(getattr(m.model, "tag_labels", None) for m in ENSEMBLE.members)


def spectrogram_image(audio_path: str):
    """The whole track's mel spectrogram, decoded on its own: the models may score only windows spread
    over a long song. None (the image left empty) if it cannot be drawn; the answer says why."""
    try:
        acc = SpectrogramAccumulator(SPECTROGRAM_RATE)
        start = 0
        for block in stream_audio(audio_path, SPECTROGRAM_RATE, max_seconds=MAX_SECONDS):
            acc.add(Window(start, start + len(block), block))
            start += len(block)
        return to_image(acc.figure())
    except AudioLoadError:
        return None
    except Exception:
        log.exception("spectrogram failed for %s", audio_path)
        return None


def _fmt_time(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def summarise(answers: list[Prediction]) -> str:
    """Sentences a person can read: is it music at all, the answer, how sure, the wider genres, which
    part of the song drove it, where the genre changes, each vote."""
    pred = answers[0]
    (g1, p1), (g2, p2) = pred.top(2)
    n = len(pred.window_spans)
    reading = pred.audioset
    if reading is not None and not reading.check.is_music:  # say so plainly instead of a confident genre
        lines = [f"### Not music: {reading.check.verdict}", reading.check.message(),
                 f"(The genre models' guess, for what it is worth: {g1} {p1:.0%}, then {g2} {p2:.0%}.)"]
    else:
        lines = [f"### {g1} ({p1:.0%})",
                 f"Runner-up: {g2} ({p2:.0%}). "
                 f"Analysed {_fmt_time(pred.duration)} in {n} window{'s' if n != 1 else ''}."]
        if reading is not None and reading.wide.top:
            lines.append("\n" + reading.wide.summary(nearest=[g1, g2]))
    if n > 1:
        i = pred.labels.index(g1)
        best = int(pred.window_probs[:, i].argmax())
        start, end = pred.window_spans[best]
        lines.append(f"The most *{g1}* part is {_fmt_time(start)}–{_fmt_time(end)} ({pred.window_probs[best, i]:.0%}).")
        parts = sections(pred.window_probs, pred.window_spans, pred.labels)
        if len(parts) > 1:
            lines.append("The genre changes along the song: " + " · ".join(
                f"{_fmt_time(p.start)}–{_fmt_time(p.end)} **{p.genre}**" for p in parts) + ".")
    for other in answers[1:]:
        g, p = other.top(1)[0]
        lines.append(f"\nModels with another label set ({len(other.labels)} labels) say **{g}** ({p:.0%}).")
    votes = [m for a in answers for m in (a.members or [a])]
    if len(votes) > 1:
        lines.append("\n| model | vote | probability |\n|---|---|---|")
        lines += [f"| {m.model} | {m.genre} | {m.probs.max():.0%} |" for m in votes]
    lines += [f"\n⚠️ {p}" for p in [*ENSEMBLE.problems, *pred.problems]]  # load-time, then this call's
    return "\n".join(lines)


def analyse(audio_path: str, metadata: TrackMetadata | None = None) -> list[Prediction]:
    """All label-set groups' answers, with the music check and the wider genres; bad input raises
    AudioLoadError. ``metadata`` reaches the models that read it; one that needs it and got none is left out."""
    return ENSEMBLE.predict(audio_path, max_seconds=MAX_SECONDS, metadata=metadata)


def track_details(title: str | None = None, artist: str | None = None, listens: float | None = None,
                  comments: float | None = None, favorites: float | None = None) -> TrackMetadata | None:
    """The "Track details" fields as metadata (None when all are empty); bad values are a gr.Error."""
    try:
        meta = TrackMetadata(title, artist, listens, comments, favorites)
    except ValueError as err:
        raise gr.Error(str(err), title="Track details", print_exception=False) from None
    return meta if meta.given() else None


def classify(audio_path: str | None, title: str | None = None, artist: str | None = None,
             listens: float | None = None, comments: float | None = None, favorites: float | None = None):
    """Endpoint ``/classify``: probabilities, summary, spectrogram image and timeline plot.
    The track details are optional and used only by models that read metadata (lstm_meta)."""
    if not audio_path:
        raise gr.Error("Upload a song or record one first.", print_exception=False)
    metadata = track_details(title, artist, listens, comments, favorites)
    # the spectrogram (and, for ensembles without the tags, a tagger) run beside the genre models
    spectrogram = TAG_POOL.submit(spectrogram_image, audio_path)
    tags = None if members_give_tags() else TAG_POOL.submit(tags_line, audio_path)
    try:
        answers = analyse(audio_path, metadata)
    except AudioLoadError as err:
        raise gr.Error(str(err), title="Cannot analyse this file", print_exception=False) from None
    except MetadataRequiredError as err:  # every configured model reads metadata and none was given
        raise gr.Error(str(err), title="Track details needed", print_exception=False) from None
    except Exception:  # never a traceback in the UI; the log keeps it
        log.exception("analysis failed for %s", audio_path)
        raise gr.Error("Something went wrong while analysing this file. Please try another file.",
                       print_exception=False) from None  # log.exception above has the real traceback
    finally:  # neither raises; both are done before the request ends (their temp files too)
        image = spectrogram.result()
        tag_text = tags.result() if tags is not None else ""
    pred = answers[0]
    own = tags_of(pred)
    summary = summarise(answers) + (format_tags(own) if own is not None else tag_text)
    return pred.as_dict(), summary, image, timeline_figure(pred)


def classify_album(files: list[str] | None):
    """Endpoint ``/classify_album``: one table row per file (bad files say why) and the same rows as CSV."""
    if not files:
        raise gr.Error("Choose one or more audio files first.", print_exception=False)
    if len(files) > MAX_ALBUM_FILES:
        raise gr.Error(f"At most {MAX_ALBUM_FILES} files at a time, please ({len(files)} were given).",
                       print_exception=False)
    labels = ENSEMBLE.groups()[0][0].model.labels
    table, csv_rows = [], []
    done_seconds = 0.0
    for path in files:
        name = Path(path).name
        if done_seconds >= MAX_ALBUM_SECONDS:
            table.append([name, "", "", "", "",
                          f"not analysed: one request analyses at most {MAX_ALBUM_SECONDS / 60:.3g} minutes of audio",
                          *[None] * len(labels)])
            continue
        try:
            pred = analyse(path)[0]
            done_seconds += pred.duration
        except (AudioLoadError, MetadataRequiredError) as err:  # the album tab has no track details
            table.append([name, "", "", "", "", str(err), *[None] * len(labels)])
            continue
        except Exception:
            log.exception("album analysis failed for %s", path)
            table.append([name, "", "", "", "", "could not be analysed", *[None] * len(labels)])
            continue
        top3 = ", ".join(f"{g} {p:.0%}" for g, p in pred.top(3))
        probs = [round(float(p), 4) for p in pred.probs]
        reading = pred.audioset
        music = "" if reading is None else ("yes" if reading.check.is_music else f"no: {reading.check.verdict}")
        wide = ", ".join(f"{g} {p:.0%}" for g, p in reading.wide.top) if reading is not None else ""
        table.append([name, pred.genre, top3, music, wide, "", *probs])
        csv_rows.append([name, pred.genre, *probs, reading.check.verdict if reading else "",
                         reading.wide.best[0] if reading and reading.wide.best else ""])
    _prune(ALBUM_DIR, CACHE_SECONDS)
    out = Path(tempfile.mkdtemp(dir=ALBUM_DIR)) / "genres.csv"
    with out.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "genre", *labels, "music", "wide_genre"])
        writer.writerows(csv_rows)
    # what a row says first, then why a file was not read (in view, before the ten probabilities)
    columns = ["file", "genre", "top 3", "music?", "wider genres (AudioSet)", "problem", *labels]
    return pd.DataFrame(table, columns=columns), str(out)


ALBUM_CSS = ".album-table table, .album-table span { font-family: var(--font); }"  # a text font: narrower


def album_view(table: pd.DataFrame):
    """The album table as shown: probabilities as percentages over a bar. The data stays the numbers
    :func:`classify_album` returns (what API clients get); only the display is formatted."""
    probs = list(table.columns[table.columns.get_loc("problem") + 1:])
    return (table.style.format("{:.0%}", subset=probs, na_rep="")
            .bar(subset=probs, vmin=0.0, vmax=1.0, color="#fdba74", height=60, width=100, props=""))


def album_widths(labels: list[str]) -> list[str]:
    """Column widths of the album table (``ALBUM_CSS``'s font) for the text each column holds: file names
    as long as they are ("auto"); headers on one line, or two where they have a space; a long problem or
    top 3 wraps rather than pushing the probabilities out of view."""
    verdicts = ["yes", *(f"no: {v}" for v in ("silence", "speech", "noise", "tones", "other"))]
    texts = {"genre": labels, "top 3": [", ".join(f"{g} 66%" for g in sorted(labels, key=len)[-3:])],
             "music?": verdicts, "wider genres (AudioSet)": [], "problem": ["x" * 60]}
    return ["auto" if c == "file" else _column_width(c, texts.get(c, ["100%"]), cap=300)
            for c in ["file", "genre", "top 3", "music?", "wider genres (AudioSet)", "problem", *labels]]


def _column_width(header: str, cells: list[str], cap: int) -> str:
    """The width of the longer of a header (on two lines where it has a space) and its cells, at most ``cap``."""
    words = header.split()
    head = min((max(len(" ".join(words[:i])), len(" ".join(words[i:]))) for i in range(1, len(words))),
               default=len(header))
    head_px = head * 7.4 + 40  # bold header text, padding and the column menu's button
    cell_px = max((len(c) for c in cells), default=0) * 7.0 + 20
    return f"{round(min(max(head_px, cell_px), cap))}px"


def album_answer(files: list[str] | None):
    """Endpoint ``/classify_album``: :func:`classify_album`'s table, formatted for reading, and its CSV."""
    table, csv_path = classify_album(files)
    return album_view(table), csv_path


def _prune(folder: Path, age: float) -> None:
    """Remove this app's per-request folders older than ``age`` seconds (Gradio keeps its own copy)."""
    for sub in folder.iterdir():
        try:
            if time.time() - sub.stat().st_mtime > age:
                shutil.rmtree(sub, ignore_errors=True)
        except OSError:
            continue


class AlbumFiles(gr.File):
    """``gr.File`` minus a Gradio 6.31 leak: its preprocess opens an empty NamedTemporaryFile in the
    cache for every uploaded file and never removes it (one stray file per file per request)."""

    def get_block_name(self) -> str:
        return "file"  # the same front-end component

    def _process_single_file(self, f):
        if self.type != "filepath":
            return super()._process_single_file(f)
        if self.file_types and not client_utils.is_valid_file(f.path, self.file_types):
            raise gr.Error(f"Invalid file type: upload one of {self.file_types}.", print_exception=False)
        return NamedString(f.path)


def metadata_read() -> set[str]:
    """The track details (title, artist, listens, ...) that some loaded model reads (``lstm_meta``); none
    for audio-only ensembles like the default, whose Song tab then shows no "Track details" box."""
    return {f for m in ENSEMBLE.members for f in getattr(m.model, "metadata_fields", ())}


def example_files() -> list[str]:
    return sorted(str(p) for p in EXAMPLES_DIR.glob("*") if p.suffix.lower() in AUDIO_SUFFIXES)


def build_demo() -> gr.Blocks:
    with gr.Blocks(title="Music genre classifier", delete_cache=(min(CACHE_SECONDS, 600), CACHE_SECONDS)) as demo:
        gr.Markdown(
            "# Music genre classifier\n"
            "Upload a song (wav, mp3, flac, ogg, m4a) or record one. The whole track is scored in windows: "
            "you get every genre's probability, the spectrogram, and how the genre changes along the song. "
            f"Limits: {MAX_SECONDS / 60:.0f} minutes of audio, {MAX_FILE_SIZE} per file; uploads are deleted "
            f"after {CACHE_SECONDS / 60:.0f} minutes; {QUEUE_WORKERS} songs are analysed at a time, "
            f"{QUEUE_SIZE} may wait. "
            f"Model(s): {', '.join(m.model.name for m in ENSEMBLE.members)}."
        )
        with gr.Tab("Song"):
            with gr.Row():
                with gr.Column(scale=1):
                    audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Song")
                    read = metadata_read()  # the track details the loaded models use: only those are shown
                    with gr.Accordion("Track details (for metadata models)", open=False, visible=bool(read)):
                        readers = ", ".join(m.model.name for m in ENSEMBLE.members
                                            if getattr(m.model, "metadata_fields", ()))
                        gr.Markdown(f"Optional. Read by {readers or 'no loaded model'}; a model that reads them "
                                    "is left out when none of its fields is filled in.")
                        title = gr.Textbox(label="Title", value="", visible="title" in read)
                        artist = gr.Textbox(label="Artist", value="", visible="artist" in read)
                        with gr.Row(visible=bool(read & set(STAT_FIELDS))):
                            listens = gr.Number(label="Listens", value=None, minimum=0, precision=0,
                                                visible="listens" in read)
                            comments = gr.Number(label="Comments", value=None, minimum=0, precision=0,
                                                 visible="comments" in read)
                            favorites = gr.Number(label="Favorites", value=None, minimum=0, precision=0,
                                                  visible="favorites" in read)
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
            gr.Markdown(f"Classify many files at once (up to {MAX_ALBUM_FILES}, {MAX_ALBUM_SECONDS / 60:.0f} minutes "
                        "of audio in all per request); download the table as CSV.")
            album = AlbumFiles(file_count="multiple", file_types=["audio"], label="Audio files")
            album_button = gr.Button("Classify all", variant="primary")
            album_table = gr.Dataframe(label="Genres", interactive=False, wrap=True, max_height=720,
                                       column_widths=album_widths(ENSEMBLE.groups()[0][0].model.labels),
                                       pinned_columns=1, elem_classes=["album-table"])
            album_csv = gr.File(label="CSV", interactive=False)
        outputs = [label, summary, spectrogram, timeline]
        inputs = [audio, title, artist, listens, comments, favorites]
        button.click(classify, inputs=inputs, outputs=outputs, api_name="classify")
        audio.upload(classify, inputs=inputs, outputs=outputs, api_name=False)
        audio.stop_recording(classify, inputs=inputs, outputs=outputs, api_name=False)
        album_button.click(album_answer, inputs=album, outputs=[album_table, album_csv], api_name="classify_album")
    demo.queue(default_concurrency_limit=QUEUE_WORKERS, max_size=QUEUE_SIZE)
    return demo


demo = build_demo()

if __name__ == "__main__":
    import signal
    import sys

    # a stopped Space/container gets SIGTERM: exit through atexit, which removes ALBUM_DIR
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if quiet.is_verbose():
        demo.launch(max_file_size=MAX_FILE_SIZE, css=ALBUM_CSS)
    else:  # Gradio's start-up advice (share links, ...) only with GENRE_VERBOSE=1: one line of ours instead
        demo.launch(max_file_size=MAX_FILE_SIZE, css=ALBUM_CSS, quiet=True, prevent_thread_lock=True)
        models = ", ".join(m.model.name for m in ENSEMBLE.members)
        print(f"Music genre classifier on {demo.local_url} (models: {models})", flush=True)
        demo.block_thread()

"""Pictures for people: the mel spectrogram of an upload and the genre timeline along the track."""
from __future__ import annotations

import io

import librosa
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402

from .prediction import Prediction  # noqa: E402
from .timeline import SIGMA_SECONDS, sections, smooth  # noqa: E402
from .windows import Window  # noqa: E402

N_MELS = 128
HOP = 512
MAX_COLUMNS = 1800


class SpectrogramAccumulator:
    """Builds a whole-track mel spectrogram from scored windows without decoding twice.

    Only the part of each window not already seen is transformed, so overlapping windows cost
    nothing extra; columns are averaged down at the end to a drawable width.
    """

    def __init__(self, sr: int):
        self.sr = sr
        self.seen = 0
        self.parts: list[np.ndarray] = []

    def add(self, win: Window) -> None:
        if win.end <= self.seen:
            return
        new = win.samples[max(0, self.seen - win.start):]
        self.seen = win.end
        if len(new) < 2:
            return
        mel = librosa.feature.melspectrogram(y=new, sr=self.sr, n_fft=2048, hop_length=HOP, n_mels=N_MELS,
                                             center=False if len(new) >= 2048 else True)
        self.parts.append(mel.astype(np.float32))

    def mel_db(self) -> np.ndarray:
        if not self.parts:
            return np.full((N_MELS, 1), -80.0, dtype=np.float32)
        mel = np.concatenate(self.parts, axis=1)
        if mel.shape[1] > MAX_COLUMNS:
            factor = int(np.ceil(mel.shape[1] / MAX_COLUMNS))
            cut = mel.shape[1] // factor * factor
            mel = mel[:, :cut].reshape(N_MELS, -1, factor).mean(axis=2)
        return librosa.power_to_db(mel, ref=max(float(mel.max()), 1e-10), top_db=80.0)

    def figure(self, title: str = "Mel spectrogram") -> Figure:
        mel_db = self.mel_db()
        fig, ax = plt.subplots(figsize=(9, 3.2), dpi=100)
        duration = self.seen / self.sr
        fmax = self.sr / 2
        mel_edges = librosa.mel_frequencies(n_mels=N_MELS + 1, fmin=0, fmax=fmax)
        times = np.linspace(0, duration, mel_db.shape[1] + 1)
        mesh = ax.pcolormesh(times, mel_edges, mel_db, shading="flat", cmap="magma", vmin=-80, vmax=0)
        ax.set_yscale("symlog", linthresh=1000, linscale=1.0)
        ax.set_ylim(20, fmax)
        ax.set_yticks([100, 500, 1000, 2000, 4000, 8000])
        ax.set_yticklabels(["100", "500", "1k", "2k", "4k", "8k"])
        ax.set_xlabel("time (s)")
        ax.set_ylabel("frequency (Hz)")
        ax.set_title(title)
        fig.colorbar(mesh, ax=ax, format="%+2.0f dB", pad=0.01)
        fig.tight_layout()
        return fig


def timeline_figure(pred: Prediction, top_k: int = 4) -> Figure:
    """Genre probability along the track: smoothed curves (:func:`genre_models.timeline.smooth`) with
    the raw per-window values as faint dots, the track's top genres drawn boldest, and the sections
    where the leading genre changes (:func:`genre_models.timeline.sections`) as a coloured band on top."""
    fig, ax = plt.subplots(figsize=(9, 3.2), dpi=100)
    spans = pred.window_spans
    centres = spans.mean(axis=1) if len(spans) else np.zeros(0)
    smoothed = smooth(pred.window_probs, spans) if len(spans) else pred.window_probs
    order = list(np.argsort(pred.probs)[::-1])
    cmap = plt.get_cmap("tab10")
    for rank, i in enumerate(order):
        strong = rank < top_k
        label = pred.labels[i] if strong else None
        colour = cmap(i % 10)
        if len(centres) == 1:  # one window: a bar reads better than a point
            ax.hlines(pred.window_probs[:, i], spans[0, 0], spans[0, 1], colors=[colour], linewidth=3 if strong else 1,
                      label=label, alpha=1 if strong else 0.35)
            continue
        if strong:
            ax.plot(centres, pred.window_probs[:, i], linestyle="none", marker="o", markersize=2.5, color=colour,
                    alpha=0.35)
        ax.plot(centres, smoothed[:, i], color=colour, linewidth=2.2 if strong else 0.8, alpha=1 if strong else 0.35,
                label=label)
    parts = sections(pred.window_probs, spans, pred.labels) if len(spans) else []
    for k, part in enumerate(parts):
        colour = cmap(pred.labels.index(part.genre) % 10)
        ax.axvspan(part.start, part.end, ymin=0.96, ymax=1.0, color=colour, alpha=0.9, linewidth=0)
        if k:
            ax.axvline(part.start, color="0.3", linestyle="--", linewidth=0.8)
    ax.set_ylim(0, 1)
    ax.set_xlim(0, max(pred.duration, 1e-3))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("probability")
    n = len(spans)
    changes = f"; {len(parts) - 1} change{'s' if len(parts) != 2 else ''} of genre" if len(parts) > 1 else ""
    smoothing = f", smoothed over ~{SIGMA_SECONDS:g} s" if n > 1 else ""
    ax.set_title(f"Genre along the track ({n} window{'s' if n != 1 else ''}{smoothing}{changes})")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8, ncol=min(top_k, 4))
    fig.tight_layout()
    return fig


def to_image(fig: Figure) -> Image.Image:
    """RGB picture of a figure (Gradio's Image shows it); the figure is closed."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    buf.seek(0)
    return Image.open(buf).convert("RGB")

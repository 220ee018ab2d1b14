"""How often the music check is right: on real music (the GTZAN tracks here, the project's examples) and
on non-music this script makes (noises, silence, tones, speech from espeak-ng).

    python benchmarks/music_check.py            # verdict counts and every track called "not music"

The check (``genre_models.audioset``) reads YAMNet's AudioSet scores of 3-s windows spread over the
track (as the default ensemble's YAMNet member computes them: ``AudioSetReader``, ``emulation="int8"``)
and their spectral flatness. Nothing here was tuned on GTZAN's verdicts: the thresholds were set
from the made non-music and the nine examples, then this script counted the GTZAN tracks.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from finetune.folds import GTZAN_DIR, real_audio_tracks  # noqa: E402
from genre_models.audioset import AudioSetReader  # noqa: E402

SPEECH = ("Good morning and welcome to the news. Today we talk about the weather, the traffic on the roads, "
          "and a few letters from our listeners. Stay with us after the break.")


def made_non_music(folder: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, the verdict a person would give)."""
    sr, rng = 16000, np.random.default_rng(0)
    t = np.arange(sr * 10) / sr
    brown = np.cumsum(rng.standard_normal(sr * 10))
    brown -= np.convolve(brown, np.ones(200) / 200, "same")
    signals = {
        "white noise, quiet": (0.01 * rng.standard_normal(sr * 10), "noise"),
        "white noise, loud": (0.3 * rng.standard_normal(sr * 10), "noise"),
        "brown-ish noise": (0.5 * brown / np.abs(brown).max(), "noise"),
        "digital silence": (np.zeros(sr * 10), "silence"),
        "1-kHz tone": (0.5 * np.sin(2 * np.pi * 1000 * t), "tones"),
        "440-Hz tone, quiet": (0.05 * np.sin(2 * np.pi * 440 * t), "tones"),
    }
    out = {}
    for name, (y, verdict) in signals.items():
        path = folder / f"{name.replace(' ', '_').replace(',', '')}.wav"
        sf.write(path, y.astype(np.float32), sr)
        out[name] = (path, verdict)
    if shutil.which("espeak-ng"):
        for voice in ("en", "de", "fr"):
            path = folder / f"speech_{voice}.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), SPEECH], check=True, capture_output=True)
            out[f"speech ({voice}, espeak-ng)"] = (path, "speech")
    else:
        print("espeak-ng not installed (apt-get install espeak-ng): no synthetic speech", file=sys.stderr)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gtzan_dir", type=Path, default=GTZAN_DIR)
    args = parser.parse_args()
    reader = AudioSetReader.load(window_seconds=3.0)

    with tempfile.TemporaryDirectory() as tmp:
        print("| made audio | expected | verdict | music share |\n|---|---|---|---|")
        right = 0
        made = made_non_music(Path(tmp))
        for name, (path, expected) in made.items():
            check = reader.read(path).check
            right += check.verdict == expected
            print(f"| {name} | {expected} | {check.verdict} | {check.music_share:.2f} |")
        print(f"\nmade non-music: {right}/{len(made)} given the expected verdict")

    examples = sorted(p for p in (REPO / "examples").iterdir() if p.suffix in (".mp3", ".ogg", ".flac"))
    music = sum(reader.read(p).check.is_music for p in examples)
    print(f"the project's examples: {music}/{len(examples)} called music")

    if not (args.gtzan_dir / "artists.csv").is_file():
        print(f"no GTZAN data at {args.gtzan_dir}: skipped the real tracks")
        return
    verdicts: dict[str, Counter] = {"clip": Counter(), "excerpt": Counter()}
    flagged = []
    for t in real_audio_tracks(args.gtzan_dir):
        check = reader.read(t.source).check
        verdicts[t.kind][check.verdict] += 1
        if not check.is_music:
            flagged.append(f"{t.track_id} ({t.kind}): {check.verdict}, music share {check.music_share:.2f}")
    for kind, counts in verdicts.items():
        n = sum(counts.values())
        print(f"GTZAN {kind}s: {counts['music']}/{n} called music; others: "
              + (", ".join(f"{v} {c}" for v, c in counts.items() if v != "music") or "none"))
    print("\ncalled not music:\n  " + "\n  ".join(flagged or ["none"]))


if __name__ == "__main__":
    main()

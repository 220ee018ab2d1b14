#!/usr/bin/env python3
"""Compose, render and encode the demo's example clips.

Why this exists: the Gradio demo needs a few short audio examples, and we may
not ship third-party recordings (GTZAN clips included).  So the project makes
its own: every piece below is composed here as General MIDI, rendered with
FluidSynth and the FluidR3_GM soundfont (MIT licence), and encoded with ffmpeg.
The result is CC0 (see ``examples/LICENSE.md``).

The pieces are short (~20-25 s; the solo-piano FLAC ~15 s, to stay small
losslessly), each written in the idiom of one genre (instrumentation, groove,
harmony) so a genre classifier has a fair chance on them.  Everything is
seeded, so the MIDI is byte-identical on every run, and the audio is too for a
given FluidSynth/ffmpeg build.

Usage::

    python examples/make_examples.py [--out examples] [--soundfont PATH]
                                     [--only NAME ...] [--midi-only]

Needs only the standard library plus the ``fluidsynth`` and ``ffmpeg``
command-line tools (Debian: ``apt-get install fluidsynth fluid-soundfont-gm
ffmpeg``); ``--midi-only`` needs neither.
"""
from __future__ import annotations

import argparse
import math
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SEED = 20240611
PPQ = 480  # MIDI ticks per quarter note
SAMPLE_RATE = 22050  # what the classifier's feature extractors expect
TARGET_LUFS = -16.0  # default loudness target (EBU R128 integrated)
CEILING_DB = -1.5  # sample-peak ceiling, leaves room for lossy-codec overshoot
MAX_LIMITING_DB = 3.0  # never squash peaks by more than this to reach the target

SOUNDFONT_CANDIDATES = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",  # Debian/Ubuntu fluid-soundfont-gm
    "/usr/share/soundfonts/FluidR3_GM.sf2",  # Arch, Fedora
    "/usr/share/soundfonts/default.sf2",
)

# --------------------------------------------------------------------------
# Music vocabulary: pitches, chords, scales, drum names
# --------------------------------------------------------------------------

_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def pitch(name: str | int) -> int:
    """MIDI number of a note name like ``'F#3'`` or ``'Bb2'`` (C4 = 60); ints pass through."""
    if isinstance(name, int):
        return name
    if name.lstrip("-").isdigit():
        return int(name)
    m = re.fullmatch(r"([A-G])([#b]?)(-?\d)", name)
    if not m:
        raise ValueError(f"bad note name {name!r}")
    letter, acc, octave = m.groups()
    return 12 * (int(octave) + 1) + _PC[letter] + {"": 0, "#": 1, "b": -1}[acc]


# Chord qualities as semitones above the root.
QUALITIES: dict[str, tuple[int, ...]] = {
    "": (0, 4, 7), "m": (0, 3, 7), "5": (0, 7), "6": (0, 4, 7, 9), "69": (0, 4, 7, 9, 14),
    "7": (0, 4, 7, 10), "maj7": (0, 4, 7, 11), "m7": (0, 3, 7, 10), "m7b5": (0, 3, 6, 10),
    "9": (0, 4, 7, 10, 14), "maj9": (0, 4, 7, 11, 14), "m9": (0, 3, 7, 10, 14),
    "7b9": (0, 4, 7, 10, 13), "7#9": (0, 4, 7, 10, 15), "13": (0, 4, 10, 14, 21),
}

# Jazz "rootless" voicings (the bass has the root): 3-5-7-9 / 7-9-3-13 shapes.
ROOTLESS: dict[str, tuple[int, ...]] = {
    "maj7": (4, 7, 11, 14), "m7": (3, 7, 10, 14), "7": (10, 14, 16, 21),
    "6": (4, 9, 14), "69": (4, 9, 14, 19), "m7b5": (3, 6, 10, 12),
}

SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11), "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10), "minor": (0, 2, 3, 5, 7, 8, 10),
}


@dataclass(frozen=True)
class Chord:
    """A chord symbol such as ``'Am7'`` or ``'A/C#'`` (slash = bass note)."""

    symbol: str
    root: int  # pitch class
    quality: str
    bass: int  # pitch class of the bass note

    @classmethod
    def parse(cls, symbol: str) -> Chord:
        main, _, slash = symbol.partition("/")
        m = re.fullmatch(r"([A-G][#b]?)(.*)", main)
        if not m or m.group(2) not in QUALITIES:
            raise ValueError(f"unknown chord {symbol!r}")
        root = pitch(m.group(1) + "4") % 12
        bass = pitch(slash + "4") % 12 if slash else root
        return cls(symbol, root, m.group(2), bass)

    @property
    def intervals(self) -> tuple[int, ...]:
        return QUALITIES[self.quality]

    @property
    def pcs(self) -> list[int]:
        return sorted({(self.root + i) % 12 for i in self.intervals})

    def tone(self, degree: int) -> int:
        """Semitones above the root for chord degree 1/3/5/7 (and 2, 4, 6, 8 as scale steps)."""
        minor = 3 in self.intervals and 4 not in self.intervals
        seventh = 11 if "maj" in self.quality else 10
        return {1: 0, 2: 2, 3: 3 if minor else 4, 4: 5, 5: 6 if "b5" in self.quality else 7,
                6: 9, 7: seventh, 8: 12}[degree]

    def scale(self) -> tuple[int, ...]:
        """Chord-scale used for melodic lines (pitch classes)."""
        if "maj" in self.quality or self.quality in ("", "6", "69"):
            name = "major"
        elif self.quality.startswith("m"):
            name = "dorian"
        else:
            name = "mixolydian"
        return tuple((self.root + s) % 12 for s in SCALES[name])


def nearest(pc: int, target: float, low: int = 0, high: int = 127) -> int:
    """The pitch of pitch-class ``pc`` closest to ``target`` within [low, high]."""
    options = [p for p in range(low, high + 1) if p % 12 == pc % 12]
    return min(options, key=lambda p: (abs(p - target), p))


def voicing(pcs: Iterable[int], low: int, high: int, prev: Sequence[int] | None = None) -> list[int]:
    """Close-position voicing of ``pcs`` inside [low, high], as near ``prev`` as possible.

    Choosing the inversion that moves least is what makes pads and comping
    sound played rather than block-pasted.
    """
    pcs = sorted({p % 12 for p in pcs})
    candidates: list[list[int]] = []
    for base in range(low, high + 1):
        if base % 12 not in pcs:
            continue
        stack, i = [base], pcs.index(base % 12)
        for k in range(1, len(pcs)):
            want, p = pcs[(i + k) % len(pcs)], stack[-1] + 1
            while p % 12 != want:
                p += 1
            stack.append(p)
        if stack[-1] <= high:
            candidates.append(stack)
    if not candidates:
        raise ValueError(f"no voicing of {pcs} in {low}..{high}")
    if prev:
        centre = sum(prev) / len(prev)
        return min(candidates, key=lambda v: (abs(sum(v) / len(v) - centre), v))
    mid = (low + high) / 2
    return min(candidates, key=lambda v: (abs(sum(v) / len(v) - mid), v))


class Scale:
    """Diatonic stepping (``step(p, n)``) in a key, for melodic figures."""

    def __init__(self, tonic: str, mode: str = "major") -> None:
        pcs = {(pitch(tonic + "4") + s) % 12 for s in SCALES[mode]}
        self.pitches = [p for p in range(24, 109) if p % 12 in pcs]

    def step(self, p: int, n: int) -> int:
        i = min(range(len(self.pitches)), key=lambda k: abs(self.pitches[k] - p))
        return self.pitches[i + n]

    def degree_distance(self, a: int, b: int) -> int:
        return self.pitches.index(b) - self.pitches.index(a)


# General MIDI percussion key map (channel 10).
DRUM = {
    "kick": 36, "stick": 37, "snare": 38, "clap": 39, "snare2": 40, "tom_floor": 41,
    "hat": 42, "tom_low": 45, "hat_pedal": 44, "hat_open": 46, "tom_mid": 47, "tom_hi": 50,
    "crash": 49, "ride": 51, "china": 52, "ride_bell": 53, "tamb": 54, "splash": 55,
    "cowbell": 56, "crash2": 57, "shaker": 70,
}
# Step characters in pattern strings -> velocity; '.' is a rest, spaces/'|' are ignored.
STEP_VEL = {"X": 120, "x": 96, "o": 74, "g": 46}

# --------------------------------------------------------------------------
# Song model
# --------------------------------------------------------------------------


@dataclass
class Note:
    start: float  # beats (quarter notes) from the top
    dur: float  # beats
    pitch: int
    vel: int
    scoop: float = 0.0  # start this many semitones flat and bend up (blue notes, slides)
    nudge_ms: float = 0.0  # deliberate placement (e.g. a laid-back snare)


@dataclass
class Part:
    """One instrument: a MIDI track on its own channel, with mix and feel settings."""

    name: str
    program: int  # GM program (0-based); for drums, the kit number in bank 128
    channel: int
    volume: int = 100
    pan: int = 64
    reverb: int = 40
    chorus: int = 0
    timing_ms: float = 8.0  # humanisation: std-dev of onset jitter
    vel_jitter: int = 6  # humanisation: +/- velocity spread
    notes: list[Note] = field(default_factory=list)

    def add(self, start: float, dur: float, p: int | str, vel: float, *,
            scoop: float = 0.0, nudge_ms: float = 0.0) -> None:
        self.notes.append(Note(start, dur, pitch(p), max(1, min(127, round(vel))), scoop, nudge_ms))

    def chord(self, start: float, dur: float, pitches: Iterable[int], vel: float,
              spread_ms: float = 0.0) -> None:
        """Play pitches together; ``spread_ms`` staggers them low-to-high like a strum."""
        for i, p in enumerate(sorted(pitches)):
            self.add(start, dur, p, vel - 3 * i, nudge_ms=i * spread_ms)


@dataclass
class Song:
    name: str  # file stem
    genre: str  # the GTZAN-style label this piece is written for
    title: str
    bpm: float
    fmt: str  # key of FORMATS
    parts: list[Part] = field(default_factory=list)
    tempo_changes: list[tuple[float, float]] = field(default_factory=list)  # (beat, bpm)
    tail_beats: float = 3.0  # silence after the last note-off, for reverb/decay
    loudness: float = TARGET_LUFS  # classical is mastered quieter, as on record

    def part(self, name: str, program: int, **mix: float) -> Part:
        channel = len([p for p in self.parts if p.channel != 9])
        channel += channel >= 9  # skip the drum channel
        p = Part(name, program, channel, **mix)  # type: ignore[arg-type]
        self.parts.append(p)
        return p

    def drums(self, kit: int = 0, **mix: float) -> Part:
        p = Part("Drums", kit, 9, **mix)  # type: ignore[arg-type]
        self.parts.append(p)
        return p

    def bpm_at(self, beat: float) -> float:
        bpm = self.bpm
        for b, t in sorted(self.tempo_changes):
            if b <= beat:
                bpm = t
        return bpm

    def last_note_off(self) -> float:
        return max(n.start + n.dur for p in self.parts for n in p.notes)

    def end_beat(self) -> float:
        return self.last_note_off() + self.tail_beats

    def seconds(self, beat: float | None = None) -> float:
        """Seconds from the top to ``beat`` (default: the end), following the tempo map."""
        end = self.end_beat() if beat is None else beat
        t, pos = 0.0, 0.0
        for b in sorted(b for b, _ in self.tempo_changes if 0 < b < end) + [end]:
            t += (b - pos) * 60.0 / self.bpm_at(pos)
            pos = b
        return t


# --------------------------------------------------------------------------
# Pattern helpers: how the pieces are written
# --------------------------------------------------------------------------


def swing(t: float, ratio: float, unit: float = 0.5) -> float:
    """Move off-beat ``unit`` subdivisions later: ratio 0.5 = straight, 2/3 = triplet swing."""
    if abs(ratio - 0.5) < 1e-9:
        return t
    span = 2 * unit
    base = math.floor(t / span + 1e-9) * span
    f = (t - base) / span
    g = f / 0.5 * ratio if f < 0.5 else ratio + (f - 0.5) / 0.5 * (1 - ratio)
    return base + g * span


def _steps(pattern: str) -> list[str]:
    return [c for c in pattern if c not in " |"]


def beat(drums: Part, start: float, lanes: Mapping[str, str], *, bar: float = 4.0,
         sw: float = 0.5, unit: float = 0.5, vel: float = 1.0,
         late_ms: Mapping[str, float] | None = None) -> None:
    """Write one bar of drums from step strings, e.g. ``{'kick': 'x...x...'}``.

    Each lane may use its own grid (8, 12, 16 steps...); swing only applies to
    duple grids, since triplet grids are already swung.
    """
    for lane, pattern in lanes.items():
        cells = _steps(pattern)
        step = bar / len(cells)
        for i, c in enumerate(cells):
            if c == ".":
                continue
            t = i * step
            if len(cells) % 3:
                t = swing(t, sw, unit)
            drums.add(start + t, min(step, 0.5), DRUM[lane], STEP_VEL[c] * vel,
                      nudge_ms=(late_ms or {}).get(lane, 0.0))


def hits(part: Part, start: float, pattern: str, notes: Sequence[int], *, bar: float = 4.0,
         length: float = 0.5, sw: float = 0.5, unit: float = 0.5, vel: float = 1.0,
         spread_ms: float = 0.0) -> None:
    """Rhythmic chord stabs from a step string (skanks, scratches, organ bubbles)."""
    cells = _steps(pattern)
    step = bar / len(cells)
    for i, c in enumerate(cells):
        if c != ".":
            part.chord(start + swing(i * step, sw, unit), length * step, notes,
                       STEP_VEL[c] * vel, spread_ms)


def play(part: Part, start: float, phrase: str, *, vel: int = 90, sw: float = 0.5,
         unit: float = 0.5, legato: float = 0.92, transpose: int = 0, bar: float = 4.0) -> float:
    """Write a phrase like ``'E4:.5 G4/:.5 r:1 E3+B3:1'`` starting at ``start``.

    ``NOTE:beats``; ``r`` is a rest; ``+`` stacks notes; a trailing ``/`` scoops
    up into the note from a semitone below; ``!`` accents and ``?`` softens.
    ``|`` marks a barline and is checked, so a miscounted bar fails loudly.
    Returns the beat after the phrase.
    """
    t = start
    for token in phrase.split():
        if token == "|":
            if abs((t - start) / bar - round((t - start) / bar)) > 1e-6:
                raise ValueError(f"barline at beat {t - start} of {phrase!r}")
            continue
        spec, _, dur_text = token.rpartition(":")
        num, _, den = dur_text.partition("/")
        dur = float(num) / float(den or 1)
        if spec != "r":
            v = vel + (15 if "!" in spec else 0) - (22 if "?" in spec else 0)
            scoop = -1.0 if "/" in spec else 0.0
            on, off = swing(t, sw, unit), swing(t + dur, sw, unit)
            for name in spec.strip("/!?").split("+"):
                part.add(on, (off - on) * legato, pitch(name) + transpose, v, scoop=scoop)
        t += dur
    return t


def play_degrees(part: Part, start: float, chord: Chord, phrase: str, root: int, *,
                 vel: int = 96, sw: float = 0.5, legato: float = 0.85, lowest: int = 28) -> None:
    """A bass-style phrase written in chord degrees (``'1:1 r:.5 5,:.5'``) on ``root``.

    ``,`` drops an octave and ``'`` raises one, so one riff fits every chord.
    """
    t = start
    for token in phrase.split():
        spec, _, dur_text = token.rpartition(":")
        dur = float(dur_text)
        if spec != "r":
            octave = 12 * (spec.count("'") - spec.count(","))
            p = root + chord.tone(int(spec.strip(",'"))) + octave
            p += 12 * (p < lowest)  # fold back up: nothing under a 4-string bass's low E
            on, off = swing(t, sw), swing(t + dur, sw)
            part.add(on, (off - on) * legato, p, vel + (8 if t == start else 0))
        t += dur


def timeline(bars: Sequence[str], start_bar: int = 0, bar: float = 4.0) -> list[tuple[float, float, Chord]]:
    """Expand ``['Fmaj7', 'Am7 D7']`` (one string per bar) into (start, beats, chord)."""
    out = []
    for i, text in enumerate(bars):
        symbols = text.split()
        for k, s in enumerate(symbols):
            out.append(((start_bar + i) * bar + k * bar / len(symbols), bar / len(symbols), Chord.parse(s)))
    return out


# --------------------------------------------------------------------------
# The pieces
# --------------------------------------------------------------------------


def blues_shuffle(rng: random.Random) -> Song:
    """12-bar shuffle in E: triplet feel, boogie guitar riff, walking bass, harp licks."""
    song = Song("blues_shuffle", "blues", "Twelve-Bar Shuffle in E", bpm=140, fmt="mp3")
    gtr = song.part("Overdrive guitar", 29, volume=84, pan=42, reverb=30, timing_ms=8)
    harp = song.part("Harmonica", 22, volume=100, pan=76, reverb=50, timing_ms=14, vel_jitter=8)
    piano = song.part("Piano", 0, volume=74, pan=90, reverb=35, timing_ms=9)
    bass = song.part("Bass", 33, volume=104, pan=64, reverb=12, timing_ms=6)
    drums = song.drums(kit=8, volume=100, reverb=30, timing_ms=5)
    sw = 2 / 3

    form = "E7 E7 E7 E7 A7 A7 E7 E7 B7 A7 E7 B7".split()
    riff = (7, 7, 9, 9, 10, 10, 9, 9)  # the boogie shape above each root: 5-5-6-6-b7-b7-6-6
    walks = {"up": (0, 4, 7, 9), "down": (10, 9, 7, 4), "one": (0, 4, 7, 10)}
    bass_shape = ["up", "down", "up", "down", "up", "down", "up", "down", "one", "one", "up", "one"]
    groove = {"hat": "x.ox.ox.ox.o", "snare": "...X.....X..", "kick": "x.....x....."}

    # Intro: a one-bar turnaround lick, drum pickup, bass lands on the V.
    play(gtr, 0, "E4+D4:.5 E4+D4:.5 E4+C#4:.5 E4+C#4:.5 E4+C4:.5 E4+C4:.5 B2+D#3+A3+B3!:1",
         vel=90, sw=sw, legato=0.8)
    beat(drums, 0, {"hat": "o.go.go.g...", "snare": ".........oxx"})
    play(bass, 0, "r:3 B1:1", vel=96)

    prev: list[int] | None = None
    for i, sym in enumerate(form):
        t = 4.0 * (i + 1)
        ch = Chord.parse(sym)
        low_root = nearest(ch.root, 42, 40, 47)  # E2, A2, B2 on the guitar
        for k, iv in enumerate(riff):
            on, off = swing(t + k / 2, sw), swing(t + (k + 1) / 2, sw)
            gtr.chord(on, (off - on) * 0.75, [low_root, low_root + iv], 96 if k % 2 == 0 else 78)
        bass_root = nearest(ch.root, 31, 28, 35)
        for k, iv in enumerate(walks[bass_shape[i]]):
            bass.add(t + k, 0.85, bass_root + iv, 100 if k == 0 else 88)
        lanes = dict(groove)
        if i % 2:
            lanes["kick"] = "x.....x....o"
        if i in (0, 4, 8):
            lanes["crash"] = "X..........."
        if i == 11:
            lanes = {"hat": "x.ox.ox.o...", "snare": "...X.....XX.", "tom_floor": "...........X",
                     "kick": "x.....x....."}
        beat(drums, t, lanes)
        # Piano joins in the second half: stabs, then Johnnie-Johnson-style triplet chords.
        if i >= 4:
            prev = voicing([ch.root + d for d in ch.intervals], 60, 76, prev)
            if i < 8:
                piano.chord(t, 0.6, prev, 72)
                piano.chord(swing(t + 1.5, sw), 0.3, prev, 64)
                piano.chord(t + 3, 0.6, prev, 70)
            else:
                for k in range(12):
                    piano.chord(t + k / 3, 0.25, prev, 74 if k % 3 == 0 else 54)

    # Harmonica answers the band: phrases in bars 1-2, 5-6, 9-10, 11-12.
    licks = {
        1: "r:.5 G4/:.5 A4:.5 B4:1.5 r:.5 D5:.5 B4:.5 A4:.5 G4/:.5 E4:1.5 r:1",
        5: "r:.5 E5:.5 E5:.5 D5:.5 C#5:1 A4:1 r:.5 G4/:.5 A4:.5 C#5:.5 B4:.5 A4:1.5",
        9: "F#4:.5 A4:.5 B4/:1 A4:.5 B4:.5 D5:1 C#5:.5 A4:.5 G4/:.5 E4:.5 A4:2",
        11: "G4/:.5 E4:1.5 r:2 r:2 B4:.5 A4:.5 F#4:1",
    }
    for bar, lick in licks.items():
        play(harp, 4.0 * bar, lick, vel=96, sw=sw, legato=0.95)

    # Ending: the band hits an E9 together and lets it ring.
    end = 4.0 * 13
    gtr.chord(end, 3, [pitch(n) for n in ("E2", "B2", "D3", "G#3", "F#4")], 100, spread_ms=12)
    piano.chord(end, 3, [pitch(n) for n in ("D4", "F#4", "G#4", "B4")], 80)
    bass.add(end, 3, "E1", 104)
    harp.add(end, 2.5, "E5", 92, scoop=-1)
    beat(drums, end, {"kick": "X...", "crash": "X..."}, bar=1)
    return song


def classical_strings(rng: random.Random) -> Song:
    """String quartet over a descending Baroque ground bass in D, with a ritardando cadence.

    Pass 1 states the melody in quarters (violin II and viola enter late, like
    a fugal entry); pass 2 divides it into running eighths over an octave-leaping
    cello while violin II keeps the old melody a third below.
    """
    song = Song("classical_strings", "classical", "Ground Bass in D for String Quartet", bpm=100,
                fmt="ogg", loudness=-19.0)
    vln1 = song.part("Violin I", 40, volume=104, pan=38, reverb=72, timing_ms=12, vel_jitter=5)
    vln2 = song.part("Violin II", 40, volume=90, pan=54, reverb=72, timing_ms=12, vel_jitter=5)
    vla = song.part("Viola", 41, volume=92, pan=78, reverb=72, timing_ms=12, vel_jitter=5)
    vc = song.part("Cello", 42, volume=104, pan=92, reverb=72, timing_ms=10, vel_jitter=5)
    key = Scale("D")

    ground = [("D", "D3"), ("A/C#", "C#3"), ("Bm", "B2"), ("F#m/A", "A2"),
              ("G", "G2"), ("D/F#", "F#2"), ("Em7", "E2"), ("A7", "A2")]
    soprano = [pitch(n) for n in ("F#5", "E5", "D5", "C#5", "B4", "A4", "B4", "C#5", "D5")]
    # Four-eighth figures (scale steps above the target) chosen by where the line goes next.
    figures: dict[int, list[tuple[int, int, int, int]]] = {
        -1: [(0, 2, 1, 0), (0, -1, 0, 1), (0, 1, 2, 0)],
        1: [(0, 2, 1, 0), (0, -1, 0, 2), (0, -2, -1, 0)],
        0: [(0, 1, 0, -1)],
    }
    melody: list[list[int]] = []
    for i in range(len(ground)):
        d = key.degree_distance(soprano[i], soprano[i + 1])
        fig = rng.choice(figures.get(d, [(0, round(d / 4), round(d / 2), round(3 * d / 4))]))
        melody.append([key.step(soprano[i], s) for s in fig])

    inner2: int | None = None
    inner3: int | None = None
    for pass_no in (0, 1):
        for i, (sym, bass_name) in enumerate(ground):
            t = 16.0 * pass_no + 2.0 * i
            ch, bass_p = Chord.parse(sym), pitch(bass_name)
            loud = 72 + (pass_no * (10 + 2 * i))  # crescendo through the second pass
            top = melody[i]
            # Inner voices: chord tones the soprano isn't using, moving as little as possible.
            free = [pc for pc in ch.pcs if pc != top[0] % 12] or ch.pcs
            inner2 = min((p for p in range(55, top[0]) if p % 12 in free),
                         key=lambda p: abs(p - (inner2 or 66)))
            free3 = [pc for pc in free if pc != inner2 % 12] or free
            inner3 = min((p for p in range(50, inner2) if p % 12 in free3),
                         key=lambda p: abs(p - (inner3 or 59)))
            # On the second beat of pass 1, the figure's first chord tone (no loose dissonance).
            second = next((p for p in (top[2], top[1], top[3], key.step(top[0], 2), key.step(top[0], -2))
                           if p % 12 in ch.pcs and p != top[0]), top[2])
            if pass_no == 0:
                vln1.add(t, 0.95, top[0], loud + 6)
                vln1.add(t + 1, 0.95, second, loud)
                vc.add(t, 1.95, bass_p, loud + 8)
                if i >= 2:  # the inner voices enter in bar 2
                    vln2.add(t, 1.95, inner2, loud - 6)
                    vla.add(t, 1.95, inner3, loud - 6)
            else:
                for k, p in enumerate(top):
                    vln1.add(t + k / 2, 0.5, p, loud + (8 if k == 0 else 0))
                vln2.add(t, 0.95, key.step(top[0], -2), loud - 4)
                vln2.add(t + 1, 0.95, key.step(second, -2), loud - 8)
                for k in range(4):
                    vla.add(t + k / 2, 0.42, inner3, loud - 14 + (6 if k == 0 else 0))
                    vc.add(t + k / 2, 0.45, bass_p + (12 if k % 2 else 0), loud + (6 if k % 2 == 0 else -4))

    # Cadence: slow down over the last bar, then hold the tonic.
    end = 32.0
    song.tempo_changes = [(28.0, 94), (29.0, 88), (30.0, 80), (31.0, 72), (end, 60)]
    for part, notes in ((vln1, ["D5"]), (vln2, ["A4"]), (vla, ["F#4"]), (vc, ["D2", "D3"])):
        for n in notes:
            part.add(end, 3.0, n, 92)
    song.tail_beats = 1.5
    return song


def disco_groove(rng: random.Random) -> Song:
    """Four-on-the-floor at 120 bpm: octave bass, open hi-hats, string swoops, Dorian vamp."""
    song = Song("disco_groove", "disco", "Mirrorball in A Minor", bpm=120, fmt="mp3")
    drums = song.drums(kit=0, volume=104, reverb=25, timing_ms=3, vel_jitter=5)
    bass = song.part("Octave bass", 33, volume=108, pan=64, reverb=10, timing_ms=4)
    gtr = song.part("Scratch guitar", 28, volume=78, pan=30, reverb=20, timing_ms=5)
    keys = song.part("Electric piano", 4, volume=74, pan=96, reverb=35, chorus=40, timing_ms=6)
    strings = song.part("Strings", 48, volume=88, pan=70, reverb=60, timing_ms=10)
    brass = song.part("Brass", 61, volume=86, pan=52, reverb=40, timing_ms=6)

    verse = timeline("Am7 D9 Am7 D9 Fmaj7 Em7 Dm7 E7".split(), start_bar=2)
    intro = timeline(["Am7", "Am7"])
    four = {"kick": "x...x...x...x...", "hat_open": "..x...x...x...x.", "hat": "x..gx..gx..gx..g"}
    full = dict(four, snare="....x.......x...", clap="....x.......x...")

    for t, _, ch in intro + verse:
        bar_no = int(t // 4)
        lanes = dict(four if bar_no == 0 else full)
        if bar_no == 1:
            lanes["snare"] = "....x.......xxxx"
        if bar_no in (2, 6):
            lanes["crash"] = "X..............."
        if bar_no >= 6:
            lanes["tamb"] = "g.o.g.o.g.o.g.o."
        beat(drums, t, lanes)
        r = nearest(ch.root, 36, 33, 44)
        for k, c in enumerate(_steps("L.H.L.H.L.H.LbH.")):
            if c != ".":
                p = {"L": r, "H": r + 12, "b": r + ch.tone(7)}[c]
                bass.add(t + k / 4, 0.22, p, 100 if c == "L" else 88)

    # String swoop into the verse, then pads; the hook comes in bar 7.
    play(strings, 6, "A4:.25 B4:.25 C5:.25 D5:.25 E5:.25 F#5:.25 G5:.25 A5:.25", vel=84)
    prev: list[int] | None = None
    for t, _, ch in verse:
        prev = voicing(ch.pcs, 60, 79, prev)
        hits(keys, t, "..x...x...x...x.", prev, length=1.2, vel=0.8)
        hits(gtr, t, "g.xg.gxg.gxg.gx.", voicing(ch.pcs, 64, 76), length=0.5, vel=0.9)
        if t < 24:
            strings.chord(t, 3.9, prev, 76)
    hook = "C6:1 A5:.5 G5:.5 A5:2 | G5:1 E5:.5 D5:.5 E5:2 | F5:1 D5:.5 C5:.5 D5:1 E5:1 | G#5:1.5 B5:.5 E6:2"
    play(strings, 24, hook, vel=88, legato=0.9)
    play(strings, 24, hook, vel=80, legato=0.9, transpose=-12)
    for t, push in ((22.5, "A4+C5+E5"), (30.5, "G4+B4+E5"), (38.5, "G#4+B4+E5")):  # on the "and" of 4
        play(brass, t, f"{push}:.5", vel=100, legato=0.7)

    end = 40.0
    final = voicing(Chord.parse("Am9").pcs, 60, 79)
    for part, vel in ((strings, 92), (keys, 84), (brass, 104)):
        part.chord(end, 2.5, final, vel)
    bass.add(end, 2.0, "A1", 110)
    bass.add(end, 2.0, "A2", 96)
    beat(drums, end, {"kick": "X...", "crash": "X...", "clap": "x..."}, bar=1)
    return song


def metal_riff(rng: random.Random) -> Song:
    """160 bpm E-minor metal: palm-muted chugs, double-tracked guitars, double-kick, gallop."""
    song = Song("metal_riff", "metal", "Chug Engine", bpm=160, fmt="mp3")
    gtr_l = song.part("Rhythm guitar L", 30, volume=96, pan=12, reverb=20, timing_ms=5, vel_jitter=6)
    gtr_r = song.part("Rhythm guitar R", 30, volume=96, pan=116, reverb=20, timing_ms=5, vel_jitter=6)
    lead = song.part("Lead guitar", 30, volume=84, pan=64, reverb=55, timing_ms=10)
    bass = song.part("Bass", 34, volume=100, pan=64, reverb=10, timing_ms=4)
    drums = song.drums(kit=16, volume=110, reverb=25, timing_ms=3, vel_jitter=5)

    # One token per 16th: m/M = palm-muted chug on the bar's root, X = power chord on it,
    # a note name = power chord there, '-' = let the previous chord ring, '.' = rest.
    riff_a = ["m m . m m . G2 - m m . m F#2 - Bb2 A2",
              "m m . m m . G2 - m m . M Bb2 - - -"]
    gallop = "X - m m X - m m X - m m X - X -"

    def riff(t: float, text: str, root: int) -> None:
        tokens = text.split()
        for k, tok in enumerate(tokens):
            if tok in ("-", "."):
                continue
            length = 1 + next((j for j, x in enumerate(tokens[k + 1:]) if x != "-"), len(tokens) - k - 1)
            on = t + k / 4
            if tok in ("m", "M"):
                chord, dur, vel = [root, root + 7], 0.16, 104 if tok == "M" else 86
            else:
                r = root if tok == "X" else pitch(tok)
                chord, dur, vel = [r, r + 7, r + 12], length / 4 * 0.95, 116
            for g in (gtr_l, gtr_r):
                g.chord(on, dur, chord, vel, spread_ms=3)
            bass.add(on, max(dur, 0.2), chord[0] - 12, vel - 6)

    sections = [("intro", 2), ("a", 4), ("gallop", 4), ("a", 4)]
    gallop_roots = ["C3", "D3", "B2", "E2"]
    bar = 0
    for name, n in sections:
        for k in range(n):
            t = 4.0 * bar
            if name == "gallop":
                riff(t, gallop, pitch(gallop_roots[k]))
                lanes = {"kick": "x.xxx.xxx.xxx.x.", "snare": "....X.......X...",
                         "crash": "X.......x.......", "china": "....x.......x..."}
            else:
                riff(t, riff_a[k % 2], pitch("E2"))
                lanes = {"kick": "xoxoxoxoxoxoxoxo", "snare": "....X.......X...",
                         "ride": "x.x.x.x.x.x.x.x.", "crash": "X..............." if k % 2 == 0 else "................"}
            if name == "intro":
                lanes = {"hat": "x...x...x...x..." if k == 0 else "x...x...x.......",
                         "snare": "................" if k == 0 else "............xXXX"}
            if bar == 5:  # tom fill into the gallop
                lanes.update(tom_hi="............xx..", tom_mid="..............x.",
                             tom_floor="...............x")
            beat(drums, t, lanes)
            bar += 1

    # A harmonic-minor lead over the last riff section.
    play(lead, 40.0, "E5:1.5 D5:.5 C5:.5 B4:.5 A4:1 | B4:1 G4:.5 A4:.5 B4:1 D#5/:1 | "
                     "E5:1 F#5:.5 G5:.5 F#5:1 E5:.5 D#5:.5 | E5/:4", vel=100, legato=0.98)

    end = 56.0
    for g in (gtr_l, gtr_r):
        g.chord(end, 3.0, [pitch("E2"), pitch("B2"), pitch("E3")], 122, spread_ms=6)
    bass.add(end, 3.0, "E1", 118)
    beat(drums, end, {"kick": "X...", "crash": "X...", "china": "x..."}, bar=1)
    song.tail_beats = 2.5
    return song


def jazz_swing(rng: random.Random) -> Song:
    """Medium-up swing in F: ride pattern, walking bass, rootless piano comping, tenor solo."""
    song = Song("jazz_swing", "jazz", "Backdoor in F", bpm=176, fmt="ogg")
    drums = song.drums(kit=32, volume=96, reverb=45, timing_ms=5, vel_jitter=7)
    bass = song.part("Upright bass", 32, volume=112, pan=56, reverb=30, timing_ms=7)
    piano = song.part("Piano", 0, volume=80, pan=84, reverb=45, timing_ms=9, vel_jitter=8)
    sax = song.part("Tenor sax", 66, volume=96, pan=44, reverb=50, timing_ms=12, vel_jitter=8)
    sw = 0.62  # swing flattens out at faster tempos

    form = timeline(["Fmaj7", "D7", "Gm7", "C7", "Am7", "D7", "Gm7", "C7",
                     "Fmaj7", "F7", "Bbmaj7", "Bbm7 Eb7", "Am7", "D7", "Gm7", "Gm7 C7"])
    end = 64.0
    final = Chord.parse("F69")

    # Walking bass: root on the change, chord tones between, chromatic approach into the next root.
    prev_p = 36
    segments = form + [(end, 4.0, final)]
    for (t, dur, ch), (_, _, nxt) in zip(segments, segments[1:], strict=False):
        for b in range(int(dur)):
            if b == 0:
                p = nearest(ch.root, prev_p, 28, 45)
            elif b == dur - 1:
                target = nearest(nxt.root, p, 29, 44)
                p = target + rng.choice((-1, 1))
            else:
                tones = [nearest(ch.root + ch.tone(d), p + rng.choice((-3, 3)), 28, 45) for d in (3, 5, 8)]
                p = rng.choice([x for x in tones if x != p] or tones)
            bass.add(t + b, 0.92, p, 100 if b == 0 else 90)
            prev_p = p

    # Drums: the ride "ding, ding-da-ding", hi-hat on 2 and 4, feathered kick, snare comping.
    for bar in range(16):
        t = 4.0 * bar
        lanes = {"ride": "x..X.xx..X.x", "hat_pedal": "...x.....x..", "kick": "g..g..g..g.."}
        comp = ["."] * 12
        for _ in range(1 + (bar >= 8) + (rng.random() < 0.4)):
            comp[rng.choice((2, 5, 8, 11))] = rng.choice("go")
        if bar in (7, 15):
            comp[10], comp[11] = "o", "x"
        lanes["snare"] = "".join(comp)
        if bar in (0, 8):
            lanes["crash"] = "x..........."
        beat(drums, t, lanes)

    # Piano comping: rootless voicings in Charleston-ish rhythms, smoothly voice-led.
    comps = [[(0.0, 1.2)], [(0.0, 0.5), (1 + 2 / 3, 0.8)], [(2 / 3, 0.3), (2 + 2 / 3, 1.0)],
             [(1.0, 0.5), (3 + 2 / 3, 0.8)], [(0.0, 0.4), (2 + 2 / 3, 0.4)]]
    voice: list[int] | None = None
    for t, dur, ch in form:
        rhythm = [(0.0, 1.0), (1 + 2 / 3, 0.3)] if dur == 2 else rng.choice(comps)
        shape = ROOTLESS.get(ch.quality, ch.intervals)
        voice = voicing([ch.root + s for s in shape], 52, 74, voice)
        for off, length in rhythm:
            piano.chord(t + off, length, voice, rng.randint(58, 76))

    # Tenor sax from bar 5: eighth-note lines on the chord-scale, chord tones on the beat.
    p = 62
    for phrase_start in range(4, 16, 2):
        t0 = 4.0 * phrase_start + rng.choice((0.0, 0.5, 1.0))
        t_end = 4.0 * phrase_start + rng.choice((5.5, 6.0, 6.5))
        direction = rng.choice((-1, 1))
        t = t0
        while t < t_end:
            ch = next(c for s, d, c in form if s <= t < s + d)
            scale = [x for x in range(52, 76) if x % 12 in ch.scale()]  # tenor's comfortable range
            on_beat = abs(t - round(t)) < 1e-6
            if p >= 74 or p <= 53 or rng.random() < 0.22:
                direction = -1 if p >= 74 else 1 if p <= 53 else -direction
            if on_beat and (p % 12) not in ch.pcs:
                p = min((x for x in scale if x % 12 in ch.pcs), key=lambda x: (abs(x - p - direction), x))
            elif rng.random() < 0.15:
                p = min((x for x in scale if x % 12 in ch.pcs and x != p), key=lambda x: abs(x - (p + 4 * direction)))
            else:
                idx = min(range(len(scale)), key=lambda k: abs(scale[k] - p))
                p = scale[max(0, min(len(scale) - 1, idx + direction))]
            on, off = swing(t, sw), swing(t + 0.5, sw)
            sax.add(on, (off - on) * 0.95, p, 84 if on_beat else 94)
            t += 0.5
        # land on a long chord tone (3rd or 7th: the colour notes)
        ch = next(c for s, d, c in form if s <= t < s + d)
        land = nearest(ch.root + ch.tone(rng.choice((3, 7))), p, 53, 74)
        sax.add(swing(t, sw), 1.2, land, 90, scoop=-1.0)
        p = land

    piano.chord(end, 3.0, voicing([final.root + s for s in ROOTLESS["69"]], 55, 76), 80, spread_ms=20)
    bass.add(end, 3.0, "F1", 104)
    sax.add(end, 2.8, "A4", 88)
    beat(drums, end, {"kick": "x...", "crash": "x...", "ride": "x..."}, bar=1)
    song.tail_beats = 3.5
    return song


def reggae_skank(rng: random.Random) -> Song:
    """One-drop reggae at 80 bpm: skank on 2 and 4, organ bubble, deep bass, horn line."""
    song = Song("reggae_skank", "reggae", "One Drop for A Minor", bpm=80, fmt="ogg")
    drums = song.drums(kit=0, volume=100, reverb=35, timing_ms=5, vel_jitter=6)
    bass = song.part("Bass", 33, volume=118, pan=64, reverb=8, timing_ms=8)
    skank = song.part("Skank guitar", 27, volume=84, pan=36, reverb=40, timing_ms=5)
    organ = song.part("Organ bubble", 16, volume=70, pan=92, reverb=30, timing_ms=6)
    trumpet = song.part("Trumpet", 56, volume=84, pan=54, reverb=55, timing_ms=10)
    tenor = song.part("Tenor sax", 66, volume=80, pan=74, reverb=55, timing_ms=10)
    sw = 0.6

    bars = timeline(["Am", "Am", "Dm", "Am", "Dm", "F", "G"])
    bass_riffs = ["1:1.25 r:.25 1:.5 r:.5 3:.5 5:.5 3:.5", "1:.75 1:.25 r:.5 5,:.5 1:1 r:.5 3:.5"]
    prev: list[int] | None = None
    for i, (t, _, ch) in enumerate(bars):
        lanes = {"hat": "xoxoxoxo", "kick": "....X...", "stick": "....X..."}
        if i in (0, 4):
            lanes["hat_open"] = ".......o"
        if i in (3, 6):  # tom fill to turn the phrase
            lanes.update(hat="xoxoxo..", tom_hi="............xx..", tom_low="..............xx")
        if i == 1:
            lanes["crash"] = "x......."
        beat(drums, t, lanes, sw=sw)
        prev = voicing(ch.pcs, 64, 79, prev)
        hits(skank, t, "..X...X.", prev, length=0.3, sw=sw, vel=0.85, spread_ms=8)
        hits(organ, t, ".o.x.o.x", voicing(ch.pcs, 55, 67), length=0.5, sw=sw, vel=0.85)
        if i >= 1:
            play_degrees(bass, t, ch, bass_riffs[i % 2], nearest(ch.root, 33, 28, 39), vel=100, sw=sw)

    horns = ("r:1 E5:.5 D5:.5 C5:1 A4:1 | r:.5 D5:.5 F5:.5 E5:.5 D5:1 A4:1 | "
             "r:1 C5:.5 A4:.5 C5:1 F5:1 | E5:.5 D5:.5 B4:1 D5:.5 B4:.5 G4:1")
    play(trumpet, 12.0, horns, vel=92, sw=sw, legato=0.85)
    play(tenor, 12.0, horns, vel=88, sw=sw, legato=0.85, transpose=-12)

    end = 28.0
    final = voicing(Chord.parse("Am").pcs, 64, 79, prev)
    skank.chord(end, 0.3, final, 100, spread_ms=8)
    organ.chord(end, 2.0, voicing(Chord.parse("Am").pcs, 55, 67), 80)
    trumpet.add(end, 2.0, "A4", 96)
    tenor.add(end, 2.0, "A3", 92)
    bass.add(end, 2.0, "A1", 110)
    beat(drums, end, {"kick": "X...", "crash": "x...", "stick": "x..."}, bar=1)
    song.tail_beats = 2.5
    return song


def hiphop_beat(rng: random.Random) -> Song:
    """Boom-bap at 90 bpm: swung 16ths, laid-back snare, Rhodes loop, bass on the kicks."""
    song = Song("hiphop_beat", "hiphop", "Dusty Ninths", bpm=90, fmt="mp3")
    drums = song.drums(kit=8, volume=118, reverb=20, timing_ms=4, vel_jitter=8)
    bass = song.part("Bass", 33, volume=112, pan=64, reverb=5, timing_ms=5)
    keys = song.part("Rhodes loop", 4, volume=84, pan=64, reverb=40, chorus=30, timing_ms=3, vel_jitter=3)
    vibes = song.part("Vibes", 11, volume=78, pan=86, reverb=55, timing_ms=8)
    sw, unit = 0.58, 0.25  # swung 16ths, the MPC feel

    loop = [Chord.parse("Cm9"), Chord.parse("Fm9")]
    kicks = ["x......x..x.....", "x.x.......x..x.."]
    snares = ["....X.......X...", "....X..g....X.g."]
    hats = ["x.o.x.o.x.o.x.o.", "x.o.x.o.x.oox.o."]
    # The "sample": a two-bar Rhodes phrase, chopped and replayed identically each time.
    chops = [(0.0, 1.5, 82), (1.75, 0.5, 64), (2.5, 1.25, 74)]
    voices = [voicing(ch.pcs, 55, 75) for ch in loop]
    for bar in range(8):
        t, k = 4.0 * bar, bar % 2
        ch = loop[k]
        for off, length, vel in chops:
            keys.chord(t + swing(off, sw, unit), length, voices[k], vel)
        if bar >= 1:
            lanes = {"hat": hats[k]}
            if bar >= 2:
                lanes.update(kick=kicks[k], snare=snares[k])
            if bar == 5:
                lanes["hat_open"] = "..............x."
            if bar == 2:
                lanes["crash"] = "x..............."
            beat(drums, t, lanes, sw=sw, unit=unit, late_ms={"snare": 14.0})
        if bar >= 2:
            cells = _steps(kicks[k])
            idx = [j for j, c in enumerate(cells) if c != "."]
            for n, j in enumerate(idx):
                stop = idx[n + 1] if n + 1 < len(idx) else 16
                root = nearest(ch.root, 33, 29, 40)
                bass.add(t + swing(j / 4, sw, unit), (stop - j) / 4 * 0.9, root, 104)
            if k == 1:
                bass.add(t + swing(3.75, sw, unit), 0.22, nearest(7, 31, 29, 40), 90)  # pickup G
    hook = "Eb5:.75 D5:.25 C5:.5 Bb4:.5 G4:2 | r:.5 Ab4:.5 C5:.5 Eb5:.5 G5:1 r:1"
    for bar in (4, 6):
        play(vibes, 4.0 * bar, hook, vel=84, sw=sw, unit=unit)

    end = 32.0
    keys.chord(end, 2.5, voices[0], 84)
    bass.add(end, 1.5, "C2", 106)
    beat(drums, end, {"kick": "X...", "crash": "o..."}, bar=1)
    return song


def country_twang(rng: random.Random) -> Song:
    """Train-beat country in G at 116 bpm: boom-chick guitar, walking-up bass, banjo rolls, fiddle."""
    song = Song("country_twang", "country", "Freight Line in G", bpm=116, fmt="mp3")
    drums = song.drums(kit=40, volume=96, reverb=30, timing_ms=4, vel_jitter=6)
    bass = song.part("Bass", 32, volume=108, pan=64, reverb=15, timing_ms=6)
    guitar = song.part("Acoustic guitar", 25, volume=92, pan=40, reverb=35, timing_ms=6)
    banjo = song.part("Banjo", 105, volume=80, pan=92, reverb=30, timing_ms=7)
    twang = song.part("Twang guitar", 27, volume=88, pan=80, reverb=40, timing_ms=9)
    fiddle = song.part("Fiddle", 110, volume=96, pan=28, reverb=50, timing_ms=12, vel_jitter=8)
    key = Scale("G")

    bars = timeline("G D G C G D G C D G".split())
    train = {"snare": "gogoXogogogoXogo", "kick": "x.......x......."}
    for i, (t, _, ch) in enumerate(bars):
        nxt = bars[i + 1][2] if i + 1 < len(bars) else Chord.parse("G")
        lanes = dict(train)
        if i == 2:
            lanes["crash"] = "x..............."
        if i == 9:
            lanes["snare"] = "gogoXogogoXoXXXX"
        beat(drums, t, lanes)
        # Boom-chick: bass note on 1 and 3 (root, then fifth), strum on 2 and 4.
        low = nearest(ch.root, 45, 40, 50)
        strum = voicing(ch.pcs + [ch.root], 55, 71)
        guitar.add(t, 0.9, low, 92)
        guitar.add(t + 2, 0.9, nearest(ch.root + 7, low - 5, 38, 52), 86)
        for s in (1.0, 3.0, 3.5):
            guitar.chord(t + s, 0.45, strum, 84 if s != 3.5 else 62, spread_ms=11)
        # Bass: root-fifth, walking up (or down) the scale into a chord change.
        root = nearest(ch.root, 38, 31, 45)
        bass.add(t, 0.9, root, 100)
        if nxt.root != ch.root:
            target = nearest(nxt.root, root, 31, 48)
            d = 1 if target > root else -1
            bass.add(t + 2, 0.9, key.step(target, -2 * d), 92)
            bass.add(t + 3, 0.9, key.step(target, -d), 92)
        else:
            bass.add(t + 2, 0.9, nearest(ch.root + 7, root - 5, 28, 45), 92)
        # Banjo forward rolls (thumb-index-middle over a high-G drone) from the verse on.
        if i >= 2:
            roll = voicing(ch.pcs, 55, 66) + [pitch("G4")]
            order = (0, 1, 2, 3, 1, 2, 0, 2)
            softer = 14 if i >= 6 else 0  # back off when the fiddle comes in
            for k in range(16):
                banjo.add(t + k / 4, 0.3, roll[order[k % 8]], (88 if k % 4 == 0 else 70) - softer)

    # Twangy intro lick on the clean electric, with slides.
    play(twang, 0.0, "D4:.5 E4:.5 G4/:1 E4:.5 D4:.5 B3:1 | A3/:.5 B3:.5 D4:1 F#4/:1 A4:1", vel=96, legato=0.9)
    play(twang, 20.0, "r:2 B4/:.5 A4:.5 F#4:.5 D4:.5", vel=88)
    # Fiddle takes the melody for the last four bars.
    play(fiddle, 24.0, "G5:1 E5:.5 D5:.5 B4/:1 D5:1 | E5:1 G5:.5 E5:.5 C5:2 | "
                       "D5:.5 E5:.5 F#5:.5 A5:.5 F#5:1 D5:1 | G5/:3 r:1", vel=96, legato=0.97)

    end = 40.0
    guitar.chord(end, 3.0, voicing(Chord.parse("G").pcs + [7], 43, 67), 96, spread_ms=18)
    fiddle.add(end, 2.5, "G5", 96, scoop=-1.0)
    fiddle.add(end, 2.5, "B4", 84)
    banjo.chord(end, 2.0, [pitch("G3"), pitch("B3"), pitch("D4"), pitch("G4")], 90, spread_ms=25)
    bass.add(end, 2.5, "G1", 104)
    beat(drums, end, {"kick": "x...", "crash": "x...", "snare": "x..."}, bar=1)
    song.tail_beats = 2.5
    return song


def classical_piano(rng: random.Random) -> Song:
    """A short Classical-period sonatina theme in C: singing right hand over an Alberti bass.

    Kept short on purpose: it is the lossless (FLAC) example, and solo piano
    is what lets a lossless file stay small.
    """
    song = Song("classical_piano", "classical", "Sonatina Theme in C", bpm=138, fmt="flac",
                loudness=-23.0)
    rh = song.part("Piano RH", 0, volume=100, pan=70, reverb=22, timing_ms=9, vel_jitter=5)
    lh = song.part("Piano LH", 0, volume=88, pan=58, reverb=22, timing_ms=9, vel_jitter=4)

    bars = timeline(["C", "G7", "C", "G", "C", "F", "C/G G7", "C"])
    melody = ("E5:1 C5:.5 E5:.5 G5:1.5 F5:.5 | D5:1 B4:.5 D5:.5 G5:1.5 F5:.5 | "
              "E5:.5 F5:.5 G5:.5 A5:.5 G5:1 E5:1 | D5:1.5 C5:.5 B4:2 | "
              "E5:1 C5:.5 E5:.5 G5:1.5 F5:.5 | A5:1 F5:.5 A5:.5 C6:1.5 A5:.5 | "
              "G5:.5 E5:.5 C5:.5 E5:.5 D5:.5 F5:.5 B4:.5 D5:.5 | C5+E5:3")
    # An arch of dynamics: p, swelling to the F-major bar, then settling.
    t = 0.0
    for bar_no, bar_text in enumerate(melody.split("|")):
        t = play(rh, t, bar_text, vel=(64, 68, 72, 66, 70, 82, 76, 70)[bar_no], legato=0.9)
    for start, dur, ch in bars[:-1]:
        low = nearest(ch.bass, 48, 43, 54)
        mid, top = [p for p in range(low + 1, low + 13) if p % 12 in ch.pcs and p % 12 != ch.bass][-2:]
        for k in range(int(dur * 2)):  # Alberti: low-top-mid-top
            lh.add(start + k / 2, 0.5, (low, top, mid, top)[k % 4], 58 if k % 4 else 66)
    lh.chord(28.0, 3.0, [pitch("C2"), pitch("C3")], 70)
    song.tempo_changes = [(26.0, 128), (27.0, 114), (28.0, 94)]
    song.tail_beats = 1.5
    return song


PIECES: list[Callable[[random.Random], Song]] = [
    blues_shuffle, classical_piano, classical_strings, country_twang, disco_groove,
    hiphop_beat, jazz_swing, metal_riff, reggae_skank,
]

# --------------------------------------------------------------------------
# Standard MIDI File writer (format 1), with humanisation
# --------------------------------------------------------------------------


def _vlq(value: int) -> bytes:
    """MIDI variable-length quantity."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(reversed(out))


def _meta(kind: int, data: bytes) -> bytes:
    return bytes([0xFF, kind]) + _vlq(len(data)) + data


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack(">I", len(payload)) + payload


def _track(events: list[tuple[int, int, bytes]], end_tick: int) -> bytes:
    """Serialise (tick, order, bytes) events; ``order`` puts note-offs before note-ons."""
    out, now = bytearray(), 0
    for tick, _, data in sorted(events, key=lambda e: (e[0], e[1])):
        out += _vlq(tick - now) + data
        now = tick
    out += _vlq(max(0, end_tick - now)) + _meta(0x2F, b"")
    return _chunk(b"MTrk", bytes(out))


def humanise(song: Song, part: Part, rng: random.Random) -> list[tuple[int, int, Note]]:
    """Ticks (on, off) per note after timing/velocity jitter; same-pitch overlaps trimmed.

    Small Gaussian timing errors and velocity spread are what separate a
    player from a sequencer grid; they are seeded so the file never changes.
    """
    placed: list[tuple[int, int, Note]] = []
    for n in sorted(part.notes, key=lambda n: (n.start, n.pitch)):
        beats_per_ms = song.bpm_at(n.start) / 60000.0
        jitter = max(-2.5, min(2.5, rng.gauss(0.0, 1.0))) * part.timing_ms + n.nudge_ms
        start = max(0.0, n.start + jitter * beats_per_ms)
        dur = max(0.03, n.dur * rng.uniform(0.95, 1.03))
        vel = max(1, min(127, n.vel + rng.randint(-part.vel_jitter, part.vel_jitter)))
        on = round(start * PPQ)
        placed.append((on, max(on + 1, round((start + dur) * PPQ)), Note(n.start, n.dur, n.pitch, vel, n.scoop)))
    # A note-off for a pitch must not cut the next note-on of the same pitch.
    placed.sort(key=lambda e: (e[2].pitch, e[0]))
    fixed: list[tuple[int, int, Note]] = []
    for on, off, n in placed:
        if fixed and fixed[-1][2].pitch == n.pitch and fixed[-1][1] > on - 1:
            p_on, _, p_n = fixed[-1]
            if on <= p_on:  # a duplicate hit: keep the louder one
                if n.vel > p_n.vel:
                    fixed[-1] = (on, off, n)
                continue
            fixed[-1] = (p_on, on - 1, p_n)
        fixed.append((on, off, n))
    return sorted(fixed, key=lambda e: e[0])


def to_midi(song: Song, seed: int = SEED) -> bytes:
    """The song as a format-1 Standard MIDI File (tempo track + one track per part)."""
    end_tick = round(song.end_beat() * PPQ)
    conductor: list[tuple[int, int, bytes]] = [
        (0, 0, _meta(0x03, song.title.encode("ascii"))),
        (0, 0, _meta(0x02, b"CC0-1.0: composed by examples/make_examples.py")),
        (0, 0, _meta(0x58, bytes([4, 2, 24, 8]))),
    ]
    for beat_pos, bpm in [(0.0, song.bpm)] + sorted(song.tempo_changes):
        conductor.append((round(beat_pos * PPQ), 1, _meta(0x51, round(60_000_000 / bpm).to_bytes(3, "big"))))
    tracks = [_track(conductor, end_tick)]

    for part in song.parts:
        ch = part.channel
        rng = random.Random(f"{seed}:{song.name}:{part.name}")
        ev: list[tuple[int, int, bytes]] = [(0, 0, _meta(0x03, part.name.encode("ascii")))]
        ev += [(0, 0, bytes([0xB0 | ch, cc, val])) for cc, val in
               ((0, 0), (7, part.volume), (10, part.pan), (91, part.reverb), (93, part.chorus), (11, 127))]
        ev.append((0, 0, bytes([0xC0 | ch, part.program])))
        for on, off, n in humanise(song, part, rng):
            on = max(on, 2)  # let the set-up messages land first
            off = max(off, on + 1)
            if n.scoop:
                # Bend range is the GM default of +/-2 semitones; glide up over ~80 ms.
                glide = max(1, round(0.08 * song.bpm_at(n.start) / 60 * PPQ))
                for k in range(7):
                    value = round(8192 + n.scoop * 4096 * (1 - k / 6))
                    value = max(0, min(16383, value))
                    ev.append((on + (k * glide) // 6 - (1 if k == 0 else 0), 2 if k == 0 else 4,
                               bytes([0xE0 | ch, value & 0x7F, value >> 7])))
            ev.append((on, 3, bytes([0x90 | ch, n.pitch, n.vel])))
            ev.append((off, 1, bytes([0x80 | ch, n.pitch, 0])))
        tracks.append(_track(ev, end_tick))

    header = _chunk(b"MThd", struct.pack(">HHH", 1, len(tracks), PPQ))
    return header + b"".join(tracks)


# --------------------------------------------------------------------------
# Rendering, loudness and encoding
# --------------------------------------------------------------------------

# Output formats: a mix, so the demo exercises more than one decoder path.
FORMATS: dict[str, tuple[str, list[str]]] = {
    "mp3": (".mp3", ["-c:a", "libmp3lame", "-b:a", "96k"]),
    "ogg": (".ogg", ["-c:a", "libvorbis", "-q:a", "3"]),
    # Mono: FluidSynth's stereo reverb doubles the lossless size, and < 400 kB is the budget.
    "flac": (".flac", ["-c:a", "flac", "-compression_level", "12", "-sample_fmt", "s16"]),
}
MONO = {"flac"}


def measure(wav: Path, length: float, layout: str = "stereo") -> tuple[float, float]:
    """(integrated loudness in LUFS, sample peak in dBFS) of the first ``length`` s, by ffmpeg's EBU R128 meter.

    R128 rather than plain RMS because it weights frequencies like a listener
    (a bass-heavy piano and a bright string quartet otherwise land 7 dB apart).
    """
    proc = subprocess.run(["ffmpeg", "-hide_banner", "-nostats", "-i", str(wav), "-af",
                           f"atrim=end={length:.3f},aformat=channel_layouts={layout},ebur128=peak=sample",
                           "-f", "null", "-"],
                          capture_output=True, text=True, check=True)
    summary = proc.stderr.rpartition("Summary:")[2]
    found_i = re.search(r"I:\s+(-?[\d.]+|-inf) LUFS", summary)
    found_p = re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", summary)
    if not (found_i and found_p):
        raise RuntimeError(f"could not read ffmpeg's ebur128 summary for {wav}:\n{summary[-800:]}")
    return float(found_i.group(1)), float(found_p.group(1))


def check_tools(soundfont: Path) -> None:
    """Fail early, with the fix, if a tool or the soundfont is missing."""
    problems = []
    for tool, pkg in (("fluidsynth", "fluidsynth"), ("ffmpeg", "ffmpeg")):
        if shutil.which(tool) is None:
            problems.append(f"'{tool}' is not on PATH (Debian/Ubuntu: apt-get install {pkg})")
    if not soundfont.is_file():
        problems.append(f"soundfont not found: {soundfont} (Debian/Ubuntu: apt-get install "
                        "fluid-soundfont-gm, or pass --soundfont PATH)")
    if problems:
        sys.exit("error: cannot render the examples:\n  - " + "\n  - ".join(problems)
                 + "\n(use --midi-only to write just the .mid files)")


def render(song: Song, midi: Path, out_dir: Path, soundfont: Path, tmp: Path) -> tuple[Path, dict[str, float]]:
    """MIDI -> float WAV (FluidSynth) -> loudness-normalised, limited, encoded file (ffmpeg)."""
    wav = tmp / f"{song.name}.wav"
    subprocess.run(["fluidsynth", "-ni", "-q", "-g", "0.5", "-r", str(SAMPLE_RATE), "-O", "float",
                    "-T", "wav", "-o", "synth.cpu-cores=1", "-F", str(wav), str(soundfont), str(midi)],
                   check=True, stdout=subprocess.DEVNULL)
    # FluidSynth keeps rendering near-silent release tails for seconds after the
    # MIDI ends; cut at the song's end and fade its tail out so every clip stops cleanly.
    length = song.seconds()
    fade_at = min(song.seconds(song.last_note_off()), length - 0.5)
    layout = "mono" if song.fmt in MONO else "stereo"
    lufs, peak_db = measure(wav, length, layout)
    if not (math.isfinite(lufs) and lufs > -70):
        raise RuntimeError(f"{song.name}: FluidSynth rendered silence ({lufs} LUFS)")
    gain = min(song.loudness - lufs, CEILING_DB - peak_db + MAX_LIMITING_DB)
    ext, codec = FORMATS[song.fmt]
    dest = out_dir / f"{song.name}{ext}"
    limit = 10 ** (CEILING_DB / 20)
    filters = (f"atrim=end={length:.3f},aformat=channel_layouts={layout},"
               f"afade=t=out:st={fade_at:.3f}:d={length - fade_at:.3f},"
               f"volume={gain:.2f}dB,"
               f"alimiter=limit={limit:.4f}:level=false:latency=true:attack=4:release=60")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-af", filters, "-ar", str(SAMPLE_RATE),
                    *codec, "-map_metadata", "-1", "-metadata", f"title={song.title}",
                    "-metadata", f"genre={song.genre}", "-metadata", "artist=genre-models examples",
                    "-metadata", "copyright=CC0-1.0",
                    "-fflags", "+bitexact", "-flags:a", "+bitexact", str(dest)], check=True)
    return dest, {"lufs_in": lufs, "peak_in": peak_db, "gain": gain}


def main(argv: Sequence[str] | None = None) -> int:
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=here, help="output folder (default: next to this script)")
    ap.add_argument("--soundfont", type=Path,
                    default=next((Path(p) for p in SOUNDFONT_CANDIDATES if Path(p).is_file()),
                                 Path(SOUNDFONT_CANDIDATES[0])),
                    help="General MIDI .sf2 to render with (default: FluidR3_GM)")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="make only these pieces")
    ap.add_argument("--midi-only", action="store_true", help="write the .mid files, skip audio")
    args = ap.parse_args(argv)

    pieces = [f for f in PIECES if not args.only or f.__name__ in args.only]
    unknown = set(args.only or ()) - {f.__name__ for f in PIECES}
    if unknown:
        ap.error(f"unknown piece(s): {', '.join(sorted(unknown))}; "
                 f"choose from {', '.join(f.__name__ for f in PIECES)}")
    if not args.midi_only:
        check_tools(args.soundfont)
    args.out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory() as tmp:
        for compose in pieces:
            song = compose(random.Random(f"{SEED}:{compose.__name__}"))
            midi = args.out / f"{song.name}.mid"
            midi.write_bytes(to_midi(song))
            line = f"{song.name:<18} {song.genre:<9} {song.seconds():5.1f} s  {midi.name}"
            if not args.midi_only:
                dest, stats = render(song, midi, args.out, args.soundfont, Path(tmp))
                line += (f", {dest.name} ({dest.stat().st_size / 1000:.0f} kB; rendered at "
                         f"{stats['lufs_in']:.1f} LUFS, peak {stats['peak_in']:.1f} dBFS; "
                         f"gain {stats['gain']:+.1f} dB)")
            print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

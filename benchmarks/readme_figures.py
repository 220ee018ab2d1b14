"""Re-run every command whose output the README quotes, in order, and keep what each printed.

    python benchmarks/readme_figures.py --list                 # the commands, and which README section quotes each
    python benchmarks/readme_figures.py                        # all of them (hours on 2 CPU cores)
    python benchmarks/readme_figures.py --only heads,ensemble  # some of them
    python benchmarks/readme_figures.py --log_dir runs/figures # where the outputs go (default: a temp dir)

Why: a figure in the README is only as good as the command behind it. Each step here is the exact
command the README names beside the figure; its stdout and stderr go to ``<log_dir>/<step>.log``, and
a summary says which steps failed. Steps that train (fold models for the ensemble) write only under
``--work_dir``, never into the repository; nothing here changes a shipped model. Speed figures should be
taken on a quiet machine (the script warns when the load average is high). The two conversion checks
(musicnn's TensorFlow, YAMNet's TFLite, Whisper's CTranslate2) need side virtual environments (the
converters' docstrings list them), so they run only when those exist, writing nothing into the
repository (``--no_fixture``, output folders under ``--work_dir``).
"""
from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Step:
    name: str
    section: str  # where in the README its figures are
    command: str  # run from the repository root; {work} is the scratch folder
    needs: str = ""  # a path that must exist (side venvs), else the step is skipped and said so


STEPS = [
    Step("folds", "Accuracy: folds", "python -m finetune.folds"),
    Step("features-table", "Accuracy: the GTZAN feature table",
         "python finetune/classical.py --out {work}/classical"),
    Step("features-refit", "Accuracy: the shipped features model",
         "python finetune/classical.py --refit --recipe_from genre_models/pretrained/gtzan-features "
         "--export {work}/gtzan-features --out {work}/classical-refit"),
    Step("feature-extractor", "How it works: the GTZAN feature table, reproduced",
         "python -m pytest tests/test_features.py -q"),
    Step("heads-musicnn", "Pretrained backbones: the heads table",
         "python benchmarks/genre_heads.py --backbone musicnn --cache {work}/emb --fold_models {work}/folds"),
    Step("heads-yamnet", "Pretrained backbones: the heads table",
         "python benchmarks/genre_heads.py --backbone yamnet --cache {work}/emb --fold_models {work}/folds"),
    Step("heads-whisper", "Pretrained backbones: the heads table",
         "python benchmarks/genre_heads.py --backbone whisper --cache {work}/emb --fold_models {work}/folds"),
    Step("finetuned", "Pretrained backbones: the fine-tuned rows",
         "python benchmarks/train_real_audio.py --models yamnet --epochs 3 --patience 2 --threads 2 "
         "--output_dir {work}/folds-finetuned"),
    Step("finetuned-whisper", "Pretrained backbones: the fine-tuned rows",
         "python benchmarks/train_real_audio.py --models whisper --model_name_or_path whisper-base "
         "--freeze_encoder_layers 4 --learning_rate 3e-4 --epochs 3 --patience 2 --threads 2 "
         "--output_dir {work}/folds-finetuned"),
    Step("scratch", "Accuracy: our own models trained from scratch",
         "python benchmarks/train_real_audio.py --models dnn,cnn1d,mel_cnn --epochs 6 --patience 3 --threads 2 "
         "--output_dir {work}/folds-scratch"),
    Step("ensemble", "The default ensemble (accuracy, macro-F1, calibration, reliability plot)",
         "python benchmarks/ensemble_real_audio.py --fold_models {work}/folds --models musicnn,yamnet "
         "--plot {work}/reliability.png --max_windows musicnn=12,yamnet=12"),
    Step("examples", "Accuracy: the project's own examples",
         "python -m genre_models predict examples --wide-genres"),
    Step("speed-predict", "The app: speed", "python benchmarks/bench_predict.py"),
    Step("speed-models", "Accuracy: the model table (CPU ms per 30 s)", "python benchmarks/bench_models.py --runs 7"),
    Step("speed-heads", "Accuracy: the heads table (CPU ms per 30 s)",
         "python benchmarks/bench_models.py --models none --shipped gtzan-musicnn,gtzan-yamnet,gtzan-whisper"),
    Step("music-check", "Accuracy: the music check", "python benchmarks/music_check.py"),
    Step("ensemble-whisper", "The default ensemble: Whisper-base as a third member",
         "python benchmarks/ensemble_real_audio.py --fold_models {work}/folds --models musicnn,yamnet,whisper "
         "--max_windows musicnn=12,yamnet=12,whisper=12"),
    Step("speed-features", "How it works", "python benchmarks/bench_features.py"),
    Step("speed-pipeline", "The app: speed", "python benchmarks/bench_pipeline.py"),
    Step("speed-musicnn", "Pretrained backbones: musicnn", "python benchmarks/bench_musicnn.py --repeats 3"),
    Step("speed-yamnet", "Pretrained backbones: YAMNet", "python benchmarks/bench_yamnet.py"),
    Step("speed-whisper", "Pretrained backbones: Whisper-base", "python benchmarks/bench_whisper.py"),
    Step("load", "Limits and robustness: load", "python benchmarks/bench_app_load.py --clients 20 --duration 120"),
    Step("library", "Label your library", "python benchmarks/bench_library.py"),
    Step("convert-yamnet", "Pretrained backbones: YAMNet equal to TFLite",
         "/tmp/tflvenv/bin/python finetune/convert_yamnet.py --out {work}/yamnet-audioset --no_fixture",
         needs="/tmp/tflvenv/bin/python"),
    Step("convert-whisper", "Pretrained backbones: Whisper equal to CTranslate2",
         "/tmp/ct2venv/bin/python finetune/convert_whisper.py --no_fixture", needs="/tmp/ct2venv/bin/python"),
    Step("convert-musicnn", "Pretrained musicnn: equal to TensorFlow",
         "/tmp/tfvenv/bin/python finetune/convert_musicnn.py --out_root {work} --no_fixture",
         needs="/tmp/tfvenv/bin/python"),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print the steps and exit")
    parser.add_argument("--only", default=None, help="comma-separated step names (default: all)")
    parser.add_argument("--log_dir", type=Path, default=None, help="where each step's output goes")
    parser.add_argument("--work_dir", type=Path, default=None, help="scratch folder for fold models and caches")
    args = parser.parse_args(argv)
    if args.list:
        for step in STEPS:
            print(f"{step.name:18s} {step.section}\n{'':18s} $ {step.command}")
        return 0
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

"""``python -m genre_models space``: assemble (and optionally push) a Hugging Face Space folder.

The folder holds exactly what the Space runs: ``app.py``, the ``genre_models`` package (with the
embedded default model), the example audio and its licence, ``requirements.txt``, ``packages.txt``,
a Space ``README.md`` and an ``ensemble.json`` naming the chosen checkpoints. ``app.py`` reads an
``ensemble.json`` next to itself when ``GENRE_ENSEMBLE`` / ``GENRE_MODELS`` are unset, and relative
folders in it are resolved against the file, so the Space needs no environment variables.

Local checkpoint folders are copied into ``models/<name>/`` (safe formats only: JSON configs,
``*.safetensors``, ``README.md``; pickles such as ``*.bin`` / ``*.pkl`` are never shipped); Hub ids
are referenced, not copied, and listed under ``models:`` in the README front matter.
"""
from __future__ import annotations

import json
import re
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from .registry import HUB_ID

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_MODEL_REL = "genre_models/pretrained/gtzan-features"
EXAMPLE_SUFFIXES = {".mp3", ".wav", ".flac", ".ogg", ".m4a"}
SKIP_DIRS = {"__pycache__", ".ipynb_checkpoints"}


@dataclass
class SpaceBuild:
    out: Path
    models: list[str]                      # ensemble.json entries: relative folders and Hub ids
    hub_ids: list[str]
    skipped: list[str] = field(default_factory=list)  # "path: why", for the user

    def files(self) -> list[str]:
        return sorted(p.relative_to(self.out).as_posix() for p in self.out.rglob("*") if p.is_file())


def _is_safe_model_file(path: Path) -> bool:
    return path.suffix in {".json", ".safetensors"} or path.name == "README.md"


def _checkpoint_files(src: Path, skipped: list[str]) -> list[Path]:
    """The safe files of one checkpoint folder; refuse a folder with no config.json + safetensors."""
    safe = [p for p in sorted(src.iterdir()) if p.is_file() and _is_safe_model_file(p)]
    left_out = [f"{p}: skipped, " + ("a folder" if p.is_dir() else
                "not a safe format (only *.json, *.safetensors and README.md are shipped)")
                for p in sorted(src.iterdir()) if p not in safe]
    names = {p.name for p in safe}
    if "config.json" not in names or not any(n.endswith(".safetensors") for n in names):
        raise ValueError(f"model folder {src} has no config.json and *.safetensors weights to ship "
                         "(convert *.bin/*.pkl checkpoints to safetensors first)"
                         + "".join(f"\n  {line}" for line in left_out))
    skipped += left_out
    return safe


def _front_matter(hub_ids: Sequence[str], title: str) -> str:
    lines = ["---", f"title: {json.dumps(title)}", "emoji: 🎸", "colorFrom: indigo", "colorTo: pink",
             "sdk: gradio", f"sdk_version: {json.dumps(metadata.version('gradio'))}",
             'python_version: "3.11"', "app_file: app.py", "pinned: false", "license: mit"]
    if hub_ids:
        lines.append("models:")
        lines += [f"  - {json.dumps(h)}" for h in hub_ids]
    lines.append("---")
    return "\n".join(lines)


def _readme(hub_ids: Sequence[str], local: Sequence[str], title: str, source_url: str | None,
            include_default: bool) -> str:
    used = [f"- [`{h}`](https://huggingface.co/{h})" for h in hub_ids]
    used += [f"- `{m}` (shipped in this Space)" for m in local]
    if include_default:
        from .ensemble import DEFAULT_ENSEMBLE_FILE

        members = ", ".join(f"`genre_models/pretrained/{e['model']}`"
                            for e in json.loads(DEFAULT_ENSEMBLE_FILE.read_text())["models"])
        used.append(f"- the shipped default ensemble ({members}: genre heads on the shipped musicnn and YAMNet "
                    "backbones; YAMNet also checks that the upload is music)")
    else:
        used.append(f"- `{DEFAULT_MODEL_REL}`: the embedded GTZAN features model (only the fallback when "
                    "nothing else loads)")
    source = (f"Source code, training scripts and evaluation: <{source_url}>." if source_url else
              "Built with `python -m genre_models space` from the genre_models project.")
    return (f"{_front_matter(hub_ids, title)}\n\n# {title}\n\n"
            "Upload or record a song and get every genre's probability, its mel spectrogram and how the "
            "genre changes along the whole track.\n\n"
            f"Models (listed in `ensemble.json`):\n\n" + "\n".join(used) + f"\n\n{source}\n")


def default_entries() -> list[str | dict]:
    """The shipped default ensemble, its folders relative to the Space root (the package ships in it)."""
    from .ensemble import DEFAULT_ENSEMBLE_FILE

    base = DEFAULT_ENSEMBLE_FILE.parent.relative_to(PACKAGE_DIR.parent).as_posix()
    entries = json.loads(DEFAULT_ENSEMBLE_FILE.read_text())["models"]
    return [{**e, "model": f"{base}/{e['model']}"} if isinstance(e, dict) else f"{base}/{e}" for e in entries]


def read_ensemble_specs(path: str | Path) -> list[dict]:
    """The entries of an ``ensemble.json`` (e.g. from ``finetune/ensemble.py``) as dicts, with local
    folders resolved against the file, so their weights and temperatures travel into the Space."""
    path = Path(path)
    try:
        entries = json.loads(path.read_text())["models"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"ensemble file {str(path)!r} could not be read: {err}") from err
    specs = []
    for entry in entries:
        spec = {"model": entry} if isinstance(entry, str) else dict(entry)
        local = path.parent / str(spec.get("model", ""))
        if not Path(str(spec.get("model", ""))).is_absolute() and local.is_dir():
            spec["model"] = str(local)
        specs.append(spec)
    return specs


def build_space(out: str | Path, models: Sequence[str | dict] | None = None, *, include_default: bool = True,
                title: str = "Music Genre Classifier", source_url: str | None = None,
                overwrite: bool = False, repo_root: str | Path = REPO_ROOT) -> SpaceBuild:
    """Write the Space folder ``out`` and return what went into it.

    ``models`` are folders / Hub ids, or ``{"model": ..., "weight": ..., "temperature": ...}``
    entries whose weight and temperature are kept in the Space's ``ensemble.json``.
    """
    root, out = Path(repo_root), Path(out)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise ValueError(f"{out} exists and is not empty (pass --overwrite to replace it)")
        shutil.rmtree(out)
    # sort the models out before writing anything
    local, hub_ids, extras = [], [], {}
    for spec in models or []:
        spec = {"model": spec} if isinstance(spec, (str, Path)) else dict(spec)
        m = str(spec.pop("model", ""))
        if Path(m).is_dir():
            local.append(Path(m))
            extras[("local", len(local) - 1)] = spec
        elif HUB_ID.match(m):
            hub_ids.append(m)
            extras[("hub", m)] = spec
        else:
            raise ValueError(f"model {m!r} is neither a local folder nor a Hub id (owner/name)")
    build = SpaceBuild(out, [], hub_ids)
    checkpoints = [(src, _checkpoint_files(src, build.skipped)) for src in local]
    out.mkdir(parents=True, exist_ok=True)

    shutil.copyfile(root / "app.py", out / "app.py")
    shutil.copytree(root / "genre_models", out / "genre_models",
                    ignore=shutil.ignore_patterns(*SKIP_DIRS, "*.pyc"))
    for name in ("requirements.txt", "packages.txt"):
        if (root / name).is_file():
            shutil.copyfile(root / name, out / name)
    if (root / "requirements-whisper.txt").is_file() and any(_reads_whisper_wheels(src) for src in local):
        # the app's requirements leave out the Whisper-base wheels; a Space with a Whisper genre model needs them
        with (out / "requirements.txt").open("a") as fh:
            fh.write("\n" + (root / "requirements-whisper.txt").read_text())
    (out / "examples").mkdir()
    for p in sorted((root / "examples").iterdir()):
        if p.is_file() and (p.suffix.lower() in EXAMPLE_SUFFIXES or p.name == "LICENSE.md"):
            shutil.copyfile(p, out / "examples" / p.name)

    if include_default:
        build.models += [e["model"] if isinstance(e, dict) else e for e in default_entries()]
    used_names: set[str] = set()
    local_rel = []
    for src, files in checkpoints:
        base = re.sub(r"[^\w.-]", "_", src.resolve().name) or "model"
        name, i = base, 2
        while name in used_names:
            name, i = f"{base}-{i}", i + 1
        used_names.add(name)
        (out / "models" / name).mkdir(parents=True)
        for f in files:
            shutil.copyfile(f, out / "models" / name / f.name)
        local_rel.append(f"models/{name}")
    build.models += local_rel + hub_ids
    entries: list[str | dict] = default_entries() if include_default else []
    entries += [{"model": rel, **extras[("local", i)]} if extras[("local", i)] else rel
                for i, rel in enumerate(local_rel)]
    entries += [{"model": h, **extras[("hub", h)]} if extras[("hub", h)] else h for h in hub_ids]
    (out / "ensemble.json").write_text(json.dumps({"models": entries}, indent=2) + "\n")
    (out / "README.md").write_text(_readme(hub_ids, local_rel, title, source_url, include_default), encoding="utf-8")
    return build


def _reads_whisper_wheels(folder: Path) -> bool:
    """A ``genre_whisper`` head folder fills its encoder from the whisper-base wheels."""
    try:
        return json.loads((folder / "config.json").read_text()).get("model_type") == "genre_whisper"
    except (OSError, ValueError):
        return False


def push_space(folder: str | Path, repo_id: str, *, private: bool = False, api=None) -> str:
    """Create (or reuse) the Space ``repo_id`` and upload ``folder``; return the Space URL."""
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi()
    api.create_repo(repo_id, repo_type="space", space_sdk="gradio", exist_ok=True, private=private)
    api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="space",
                      commit_message="Update Space from python -m genre_models space")
    return f"https://huggingface.co/spaces/{repo_id}"


def add_parser(sub) -> None:
    s = sub.add_parser("space", help="assemble a Hugging Face Space folder (and optionally push it)")
    s.add_argument("--out", type=Path, required=True, help="folder to write the Space into")
    s.add_argument("--model", action="append", default=None, metavar="DIR_OR_HUB_ID",
                   help="checkpoint folder (copied) or Hub id (referenced); repeat for an ensemble")
    s.add_argument("--ensemble", type=Path, default=None, metavar="ENSEMBLE_JSON",
                   help="take the models, weights and temperatures from this ensemble.json (e.g. written by "
                        "finetune/ensemble.py); the default model is then added only if the file lists it")
    s.add_argument("--no-default", action="store_true",
                   help="leave the embedded default model out of ensemble.json (it still ships as the fallback)")
    s.add_argument("--source-url", default=None, help="link back to the source repository in the README")
    s.add_argument("--overwrite", action="store_true", help="replace --out when it is not empty")
    s.add_argument("--push", metavar="OWNER/SPACE", default=None, help="create/update this Space and upload")
    s.add_argument("--private", action="store_true", help="create the Space as private (with --push)")


def run_space(args) -> int:
    if args.push and not HUB_ID.match(args.push):
        raise ValueError(f"--push wants OWNER/SPACE, got {args.push!r}")
    specs: list[str | dict] = read_ensemble_specs(args.ensemble) if args.ensemble else []
    specs += args.model or []
    if args.no_default and not specs:
        raise ValueError("--no-default needs at least one --model")
    build = build_space(args.out, specs, include_default=not (args.no_default or args.ensemble),
                        source_url=args.source_url, overwrite=args.overwrite)
    for line in build.skipped:
        print(line, file=sys.stderr)
    print(f"wrote {len(build.files())} files to {build.out}; ensemble: {', '.join(build.models)}")
    if args.push:
        print(push_space(build.out, args.push, private=args.private))
    return 0

"""The figure -> command mapping of the README and docs/ cannot rot silently.

Every ``python benchmarks/...`` / ``python finetune/...`` command a page quotes must be a step of
``benchmarks/readme_figures.py`` (which re-runs them), every step must name pages and sections that
exist and quote it, and every link to a page, a section or an image must resolve.
"""
from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import readme_figures as rf  # noqa: E402


def test_the_repository_has_no_problems():
    assert rf.problems() == []


def test_pages_cover_the_readme_and_docs():
    names = {p.relative_to(REPO).as_posix() for p in rf.pages()}
    assert "README.md" in names and "docs/accuracy.md" in names
    quoted = [c for p in rf.pages() for c in rf.quoted_commands(p.read_text())]
    assert any(c.startswith("python benchmarks/ensemble_real_audio.py") for c in quoted)


def test_every_step_is_listed_with_its_pages(capsys):
    assert rf.main(["--list"]) == 0
    out = capsys.readouterr().out
    for step in rf.STEPS:
        assert step.name in out and step.command in out
        for page, section in step.where:
            assert f"{page} § {section}" in out


def test_quoted_commands_in_inline_code_and_fenced_blocks():
    text = (
        "Measured by `python benchmarks/x.py --models a,b\n--epochs 3` on folds.\n\n"
        "```bash\npython finetune/y.py --k 1 \\\n    --j 2   # a comment\n```\n"
        "`/tmp/venv/bin/python finetune/convert_z.py` and `python -m finetune.folds`; not `pip install x`.\n"
    )
    assert rf.quoted_commands(text) == [
        "python finetune/y.py --k 1 --j 2",
        "python benchmarks/x.py --models a,b --epochs 3",
        "/tmp/venv/bin/python finetune/convert_z.py",
        "python -m finetune.folds",
    ]


def test_matching_ignores_paths_and_placeholders_but_not_settings():
    step = rf.Step("s", (), "python benchmarks/x.py --models a,b --epochs 3 --out {work}/o")
    assert rf.matches("python benchmarks/x.py --models a,b --out runs/elsewhere", step)
    assert rf.matches("python benchmarks/x.py --epochs N", step)
    assert not rf.matches("python benchmarks/x.py --models a,c", step)
    assert not rf.matches("python benchmarks/x.py --seed 1", step)
    assert not rf.matches("python benchmarks/other.py", step)


def _site(tmp_path: Path, readme: str, page: str) -> Path:
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text(readme)
    (tmp_path / "docs" / "page.md").write_text(page)
    (tmp_path / "docs" / "plot.png").write_bytes(b"png")
    return tmp_path


def test_problems_finds_unlisted_commands_broken_links_and_lost_sections(tmp_path):
    steps = [rf.Step("x", (("docs/page.md", "Speed"),), "python benchmarks/x.py --runs 7"),
             rf.Step("y", (("docs/page.md", "Gone"),), "python benchmarks/y.py")]
    root = _site(tmp_path,
                 "# T\n\nSee [the page](docs/page.md#speed), [missing](docs/nope.md),\n"
                 "[bad anchor](docs/page.md#nope),\n"
                 "![plot](docs/plot.png), ![lost](docs/lost.png), <https://example.org> and [web](https://x.org).\n",
                 "# Page\n\n## Speed\n\n0.5 s (`python benchmarks/x.py --runs 7`); 0.9 (`python benchmarks/z.py`).\n"
                 "`python finetune/train.py --model m ...` is usage. Back to [the README](../README.md#t).\n")
    found = rf.problems(root, steps)
    assert len(found) == 5, found
    assert any("python benchmarks/z.py" in p and "no step" in p for p in found)
    assert any("docs/nope.md" in p for p in found)
    assert any("docs/page.md#nope" in p and "anchor" in p for p in found)
    assert any("docs/lost.png" in p for p in found)
    assert any("step y" in p and "Gone" in p for p in found)


def test_slugs_follow_github():
    assert rf._slug("The folds: 380 real GTZAN tracks, grouped by artist") == (
        "the-folds-380-real-gtzan-tracks-grouped-by-artist")
    assert rf._slug("`lstm_meta`: audio + play statistics + names (FMA)") == (
        "lstm_meta-audio--play-statistics--names-fma")

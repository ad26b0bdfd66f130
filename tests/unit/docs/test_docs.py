"""The docs stay true and short: every path or module they name exists, and the word budgets hold."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
TOTAL_WORDS = 18_000
WORDS_PER_DOC = {"emulator.md": 1_500}

# A file or folder named from the repository root, e.g. functions/cio_sync/handlers/track.py, tests/e2e/.
FILE_PATH = re.compile(r"(?<![\w./-])((?:functions|infrastructure|tests|docs|bench|events)/[\w./*-]*[\w/*])")
# A module, optionally followed by one attribute of it: cio_sync.adapters.member_table.MemberRepository.
MODULE = re.compile(r"(?<![\w./-])(cio_sync(?:_cli|_local)?(?:\.\w+)+)")
# Entry-point groups (pyproject's [project.entry-points."cio_sync.commands"]) look like modules but are not.
ENTRY_POINT_GROUPS = set(
    re.findall(r'^\[project\.entry-points\."([\w.]+)"\]', (ROOT / "pyproject.toml").read_text(), re.MULTILINE)
)
PACKAGES = {
    "cio_sync": ROOT / "functions" / "cio_sync",
    "cio_sync_cli": ROOT / "functions" / "cio_sync_cli",
    "cio_sync_local": ROOT / "infrastructure" / "cio_sync_local",
}


def words(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").split())


def module_file(dotted: str) -> Path | None:
    """The package folder or .py file of a dotted module name, if it exists."""
    top, *rest = dotted.split(".")
    base = PACKAGES[top].joinpath(*rest)
    if base.is_dir() and (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def names_something_real(dotted: str) -> bool:
    """A module, a module and a name it defines (function, class, constant), or an entry-point group."""
    if dotted in ENTRY_POINT_GROUPS or module_file(dotted) is not None:
        return True
    parent, _, attribute = dotted.rpartition(".")
    source = module_file(parent) if "." in parent or parent in PACKAGES else None
    if source is None:
        return False
    definition = (
        rf"^\s*(?:async def |def |class ){attribute}\b|^{attribute}\b\s*[:=]|import .*\b{attribute}\b"
    )
    return re.search(definition, source.read_text(encoding="utf-8"), re.MULTILINE) is not None


def path_exists(path: str) -> bool:
    """A path, or a glob such as tests/unit/pipeline/test_profile_sweep*.py that matches something."""
    return any(ROOT.glob(path)) if "*" in path else (ROOT / path).exists()


def named_paths(text: str) -> set[str]:
    return {match.rstrip(".") for match in FILE_PATH.findall(text)}


def named_modules(text: str) -> set[str]:
    return {match.rstrip(".") for match in MODULE.findall(text)}


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_every_path_a_doc_names_exists(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    missing = sorted(path for path in named_paths(text) if not path_exists(path))
    assert missing == [], f"{doc.name} names paths that do not exist"


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: path.name)
def test_every_module_a_doc_names_exists(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    missing = sorted(name for name in named_modules(text) if not names_something_real(name))
    assert missing == [], f"{doc.name} names modules that do not exist"


def test_the_path_checks_catch_a_moved_module() -> None:
    text = "`functions/cio_sync/nowhere.py`, `cio_sync.adapters.nowhere` and `cio_sync.producer_api.nothing`"
    assert not path_exists("functions/cio_sync/nowhere.py")
    assert not path_exists("tests/unit/nowhere*.py")
    assert path_exists("tests/unit/docs/test_doc*.py")
    assert named_paths(text) == {"functions/cio_sync/nowhere.py"}
    assert not any(names_something_real(name) for name in named_modules(text))
    assert names_something_real("cio_sync.producer_api.producer")
    assert names_something_real("cio_sync_local.bench.doc_table")
    assert names_something_real("cio_sync.commands")  # the CLI's entry-point group


def test_the_docs_hold_their_word_budget() -> None:
    counts = {doc.name: words(doc) for doc in DOCS}
    assert sum(counts.values()) <= TOTAL_WORDS, counts
    for name, limit in WORDS_PER_DOC.items():
        assert counts[name] <= limit, f"{name}: {counts[name]} words (limit {limit})"

"""The layer contracts of docs/architecture.md hold, and a wrong-way import breaks `make lint`.

`lint-imports` (import-linter) reads `.importlinter`; these tests run it on the real tree and on a
scratch copy with one deliberately wrong-way import added.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("labctl", "drivers", "procedures", "gui")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter not installed")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=tree, capture_output=True, text=True, timeout=120
    )


def _scratch_copy(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    tree.mkdir()
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / ".importlinter", tree / ".importlinter")
    return tree


def test_the_tree_keeps_every_contract() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout
    assert result.stdout.count("KEPT") >= 3


@pytest.mark.parametrize(
    ("module", "wrong_import", "message"),
    [
        ("drivers/scpi.py", "import procedures.base", "drivers is not allowed to import"),
        ("labctl/core/errors.py", "import labctl.station", "labctl.core is not allowed to import"),
        ("procedures/base.py", "import labctl.sim.wafer", "procedures is not allowed to import"),
        ("labctl/training/train.py", "import labctl.testing.synthetic", "labctl.testing"),
    ],
)
def test_a_wrong_way_import_fails_the_lint(
    tmp_path: Path, module: str, wrong_import: str, message: str
) -> None:
    tree = _scratch_copy(tmp_path)
    with (tree / module).open("a", encoding="utf-8") as source:
        source.write(f"\n{wrong_import}  # deliberately wrong-way\n")
    result = _lint(tree)
    assert result.returncode != 0
    assert message in result.stdout
    assert wrong_import.split()[-1] in result.stdout

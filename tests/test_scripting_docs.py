"""docs/scripting.md runs as written: every ```python block, in order, in one namespace, in an
empty folder (as a user pasting them into a session would)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "scripting.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def python_blocks(text: str) -> list[str]:
    return [m.group(1) for m in BLOCK.finditer(text)]


def test_the_tutorial_has_its_blocks() -> None:
    blocks = python_blocks(TUTORIAL.read_text(encoding="utf-8"))
    assert len(blocks) >= 8
    for block in blocks:
        compile(block, str(TUTORIAL), "exec")


@pytest.mark.slow
def test_every_python_block_of_the_tutorial_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__main__"}
    for number, block in enumerate(python_blocks(TUTORIAL.read_text(encoding="utf-8")), 1):
        try:
            exec(compile(block, f"{TUTORIAL.name} block {number}", "exec"), namespace)
        except SystemExit as exc:  # the whole-script block ends in sys.exit(main())
            assert exc.code == 0, f"block {number} exited with {exc.code}"
    out = capsys.readouterr().out
    # The script did what the page says: a sweep, a second file for the weak dies, a comparison.
    assert Path("overnight.h5").is_file() and Path("overnight-nplc1.h5").is_file()
    assert namespace["weak"], "the tutorial's dies should include one below the threshold"
    assert "second file measured at NPLC 1.0" in out
    assert "measured again at NPLC 1" in out
    assert Path("training/ideal.safetensors").is_file()

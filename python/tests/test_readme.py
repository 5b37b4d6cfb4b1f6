"""Every ```python block of README.md, docs/sb3.md and docs/datasets.md runs as written.

Each block runs on its own in a fresh interpreter (``python -c``), in an empty working folder and
with a private Minari root, so a block that relies on a name from an earlier block, or on a file
it did not make, fails. A block that cannot run here (a download, a long run) is marked in the
markdown by an HTML comment on the line just before its fence::

    <!-- not-run: needs MuJoCo and a Minari dataset made by a 100k-step run -->

Such a block is reported as skipped with its reason, and :data:`NOT_RUN` lists every one of
them, so that a new exception shows up in this file's diff. Blocks in other languages (bash) do
not run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: The pages whose Python blocks run.
DOCUMENTS = ("README.md", "docs/sb3.md", "docs/datasets.md")

#: The blocks that do not run, as ``(page, the reason its not-run mark gives)``.
NOT_RUN = {
    ("docs/datasets.md", "needs MuJoCo (gymnasium[mujoco]) and the hopper/flowrl-medium-v2 dataset, a 20-minute SAC run of "
                         "scripts/make_datasets.py"),
}

#: Seconds one block may take (the blocks use small step budgets; the slowest takes about 15 s).
TIMEOUT = 300

_NOT_RUN_MARK = re.compile(r"^<!--\s*not-run:\s*(?P<reason>.+?)\s*-->$")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page."""

    document: str
    line: int  # of the opening fence, 1-based
    code: str
    not_run: Optional[str]  # the reason given by a not-run mark, or None

    @property
    def id(self) -> str:
        return f"{self.document}:{self.line}"


def python_blocks(document: str, text: str) -> list[Block]:
    """The ```python blocks of ``text`` (a markdown page), with their not-run marks.

    Raises
    ------
    ValueError
        For a block that is never closed, or a not-run mark that no Python block follows.
    """
    blocks: list[Block] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        mark = _NOT_RUN_MARK.match(line)
        if mark and not (index + 1 < len(lines) and lines[index + 1].strip() == "```python"):
            raise ValueError(f"{document}:{index + 1}: a not-run mark must stand just before a ```python fence")
        if line.startswith("```") and line != "```":
            start = index
            end = next((position for position in range(index + 1, len(lines)) if lines[position].strip() == "```"), None)
            if end is None:
                raise ValueError(f"{document}:{start + 1}: a code block is not closed")
            if line == "```python":
                previous = _NOT_RUN_MARK.match(lines[start - 1].strip()) if start > 0 else None
                code = "\n".join(lines[start + 1:end]) + "\n"
                blocks.append(Block(document, start + 1, code, previous.group("reason") if previous else None))
            index = end
        index += 1
    return blocks


def all_blocks() -> list[Block]:
    return [block for document in DOCUMENTS for block in python_blocks(document, (ROOT / document).read_text(encoding="utf-8"))]


BLOCKS = all_blocks()


def test_the_parser_finds_blocks_and_marks() -> None:
    page = ("text\n```bash\nls\n```\n```python\nx = 1\n```\n\n<!-- not-run: needs a download -->\n```python\ny = 2\n```\n"
            "```\nplain\n```\n")
    blocks = python_blocks("page.md", page)
    assert [(block.line, block.code, block.not_run) for block in blocks] == [(5, "x = 1\n", None), (10, "y = 2\n", "needs a download")]
    with pytest.raises(ValueError, match="not closed"):
        python_blocks("page.md", "```python\nx = 1\n")
    with pytest.raises(ValueError, match="just before"):
        python_blocks("page.md", "<!-- not-run: a reason -->\n\n```python\nx = 1\n```\n")


def test_every_page_has_blocks_and_the_exceptions_are_listed() -> None:
    assert {block.document for block in BLOCKS} == set(DOCUMENTS)
    marked = {(block.document, block.not_run) for block in BLOCKS if block.not_run is not None}
    assert marked == NOT_RUN, "update NOT_RUN in this file with the blocks marked not-run"


@pytest.mark.parametrize("block", [pytest.param(block, id=block.id) for block in BLOCKS])
def test_the_block_runs(block: Block, tmp_path: Path) -> None:
    if block.not_run is not None:
        pytest.skip(f"{block.id} is marked not-run: {block.not_run}")
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    environment.update(MINARI_DATASETS_PATH=str(tmp_path / "minari"), MPLBACKEND="Agg")
    result = subprocess.run([sys.executable, "-c", block.code], cwd=tmp_path, env=environment, capture_output=True,
                            text=True, timeout=TIMEOUT)
    assert result.returncode == 0, f"{block.id} failed:\n{block.code}\n--- stderr ---\n{result.stderr[-4000:]}"

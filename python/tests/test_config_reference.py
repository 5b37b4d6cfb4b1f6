"""docs/configuration.md, the configuration reference for C and C++ users, is what
scripts/config_reference.py generates from the library's schema (the schema Python reads too)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

from flowrl import _schema

ROOT = Path(__file__).resolve().parents[2]


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("config_reference", ROOT / "scripts" / "config_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_configuration_reference_is_the_generated_one() -> None:
    generated = load_script().render()
    committed = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert committed == generated, "docs/configuration.md is out of date: run python scripts/config_reference.py"


def test_the_reference_lists_every_key_of_every_algorithm_with_its_default() -> None:
    text = load_script().render()
    for algorithm in _schema.algorithms():
        section = text.split(f"## `{algorithm}`", 1)[1].split("\n## ", 1)[0]
        for key in _schema.schema(algorithm).keys:
            row = next((line for line in section.splitlines() if line.startswith(f"| `{key.name}` |")), None)
            assert row is not None, f"{algorithm}.{key.name} is missing"
            assert f"`{json.dumps(key.default)}`" in row, row
            assert ("*Settable.*" in row) == key.settable, row
    assert "Renamed: `tau` is now `jko_step`" in text

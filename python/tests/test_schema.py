"""The Swift core is the only source of the algorithm names and of every hyperparameter's default,
range and description: the Python classes, their docstrings (``help()``), signatures, accepted
keywords and the training schedule derive from ``flowrl_algorithm_schema``, and no Python source
repeats a value of it."""

from __future__ import annotations

import ast
import inspect
import json
import pydoc
import re
from pathlib import Path
from typing import Any

import flowrl
import pytest
from flowrl import _lib, _schema
from flowrl.core import _registry
from flowrl.errors import InvalidArgumentError

from conftest import ACTION_SPACE, OBSERVATION_SPACE

PACKAGE = Path(flowrl.__file__).resolve().parent
SOURCES = sorted(PACKAGE.glob("*.py"))
#: The constructor's parameters that live in Python (the docstring's entries that are not config keys).
PYTHON_ONLY = {"policy", "env", "observation_space", "action_space", "verbose", "log_dir", "tensorboard_log", "policy_kwargs",
               "action_noise", "device", "**sb3_names"}
PYTHON_SIGNATURE = {"policy", "env", "observation_space", "action_space", "verbose", "log_dir", "tensorboard_log", "policy_kwargs",
                    "action_noise", "device", "sb3_names"}
GROUPS = {"algorithm", "common", "replay", "critic", "temperature", "training_loop"}
SCHEDULE = ("learning_starts", "train_freq", "gradient_steps")

ALGORITHMS = list(_schema.algorithms())
CLASSES = [pytest.param(_registry[name], id=name) for name in ALGORITHMS]


def raw_schema(algorithm: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(_lib.string_result(_lib.lib.flowrl_algorithm_schema, algorithm.encode()))
    return result


def docstring_parameters(doc: str) -> list[tuple[str, str, str]]:
    """``(name, type, default text)`` of every entry of a numpydoc ``Parameters`` section."""
    section = doc.split("Parameters\n----------\n", 1)[1]
    section = re.split(r"\n\n\S", section, maxsplit=1)[0]
    entries = []
    for line in section.splitlines():
        if line and not line[0].isspace():
            name, _, rest = line.partition(" : ")
            kind, _, default = rest.partition(", default ")
            entries.append((name, kind, default))
    return entries


# --------------------------------------------------------------------------- the algorithm list


def test_the_algorithm_list_comes_from_the_core_and_every_algorithm_has_a_class() -> None:
    names = json.loads(_lib.string_result(_lib.lib.flowrl_algorithms))
    assert list(_schema.algorithms()) == names and names
    assert set(_registry) == set(names), "each core algorithm needs one Python class, and each class a core algorithm"
    for name in names:
        assert _registry[name].algorithm == name
        assert getattr(flowrl, _registry[name].__name__) is _registry[name], f"{name}'s class is not exported"


def test_an_unknown_algorithm_has_no_schema() -> None:
    with pytest.raises(InvalidArgumentError, match="unknown algorithm 'nope'"):
        _lib.string_result(_lib.lib.flowrl_algorithm_schema, b"nope")


# --------------------------------------------------------------------------- the schema itself


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_the_schema_is_well_formed(algorithm: str) -> None:
    raw = raw_schema(algorithm)
    assert set(raw) == {"algorithm", "description", "keys", "presets", "renamed_keys", "training_loop_defaults"}
    assert raw["algorithm"] == algorithm
    assert raw["description"] and "\n" not in raw["description"]
    assert set(raw["training_loop_defaults"]) == {*SCHEDULE, "warmup_actions"}
    names = [key["name"] for key in raw["keys"]]
    assert len(names) == len(set(names)) and "seed" in names
    for key in raw["keys"]:
        label = f"{algorithm}.{key['name']}"
        assert {"name", "group", "type", "default", "description"} <= set(key), label
        assert set(key) <= {"name", "group", "type", "default", "description", "minimum", "maximum", "exclusive_minimum",
                            "choices", "multiple_of", "min_length", "max_length", "follows", "settable", "legacy_value"}, label
        assert key.get("settable", True) is True, label  # present only when true
        assert key["group"] in GROUPS, label
        assert key["description"] and "\n" not in key["description"], label
        default, low, high = key["default"], key.get("minimum"), key.get("maximum")

        def in_range(value: Any) -> bool:
            above = low is None or (value > low if key.get("exclusive_minimum") else value >= low)
            return above and (high is None or value <= high)

        if key["type"] == "integer":
            assert isinstance(default, int) and in_range(default), label
            assert default % key.get("multiple_of", 1) == 0, label
        elif key["type"] == "number":
            assert isinstance(default, (int, float)) and in_range(default), label
        elif key["type"] == "number_or_auto":
            assert key["choices"] == ["auto"], label
            assert default == "auto" or (isinstance(default, (int, float)) and in_range(default)), label
        elif key["type"] == "integer_or_auto":
            assert key["choices"] == ["auto"], label
            assert default == "auto" or (isinstance(default, int) and in_range(default)), label
        elif key["type"] == "boolean":
            assert isinstance(default, bool) and low is None and high is None, label
        elif key["type"] == "string":
            assert default in key["choices"], label
        elif key["type"] == "integer_list":
            assert key["min_length"] <= len(default) <= key["max_length"] and all(map(in_range, default)), label
        else:
            pytest.fail(f"{label}: unknown type {key['type']}")
        if "follows" in key:
            assert key["follows"] in names and "legacy_value" not in key, label  # absent, it follows its source
    for name, value in raw["training_loop_defaults"].items():
        if name in names:
            assert next(key for key in raw["keys"] if key["name"] == name)["default"] == value
    # Presets: named by the "preset" key's choices (besides "none"), each changing known keys.
    if raw["presets"]:
        preset = next(key for key in raw["keys"] if key["name"] == "preset")
        assert preset["default"] == "none" and set(preset["choices"]) == {"none", *raw["presets"]}
    for values in raw["presets"].values():
        assert values and set(values) <= set(names)
    # Renamed keys: old names are no longer keys, new names are.
    for old, new in raw["renamed_keys"].items():
        assert old not in names and new in names, (old, new)
    # Settable: exactly the learning rates the algorithm has (what learning-rate schedules set).
    assert {key["name"] for key in raw["keys"] if key.get("settable")} == {"learning_rate", "critic_learning_rate"} & set(names)


def test_keys_added_since_checkpoints_existed_publish_their_legacy_values() -> None:
    """What a stored configuration without a key means (the behaviour before it existed), as the
    core loads checkpoints; the recent keys' legacy values are their defaults of today."""
    swfp = _schema.schema("swfp")
    assert swfp.key("entropy_space").legacy_value == "pre_squash"
    assert swfp.key("trust_region_scale").legacy_value == "fixed"
    assert swfp.key("critic_layer_norm").legacy_value is False
    assert swfp.key("flow_steps").legacy_value is None  # in every stored configuration
    assert swfp.key("actor_batch_size").legacy_value is None  # follows batch_size
    assert _schema.schema("rldt").key("reward_scaling").legacy_value == "none"


def test_a_stored_configuration_means_legacy_values_following_keys_and_defaults() -> None:
    """``Schema.stored_meaning`` fills in keys as the core does for a checkpoint: a legacy value
    that differs from today's default wins over the default; a following key follows."""
    schema = _schema.Schema("toy", "A toy.", (
        _schema.Key("steps", "algorithm", "integer", 3, "In every record."),
        _schema.Key("window", "algorithm", "integer", 5, "Added later; its default moved.", legacy_value=2),
        _schema.Key("actor_window", "algorithm", "integer", 5, "Follows window.", follows="window")), {},
        renamed_keys={"width": "window"})
    assert schema.stored_meaning({"steps": 4, "window": 9}) == {"steps": 4, "window": 9, "actor_window": 9}
    assert schema.stored_meaning({"steps": 4, "width": 9}) == {"steps": 4, "window": 9, "actor_window": 9}
    assert schema.stored_meaning({"steps": 4}) == {"steps": 4, "window": 2, "actor_window": 2}
    assert schema.stored_meaning({"steps": 4, "window": 9, "actor_window": 1}) == {"steps": 4, "window": 9, "actor_window": 1}


# --------------------------------------------------------------------------- what Python derives from it


@pytest.mark.parametrize("cls", CLASSES)
def test_the_docstring_lists_exactly_the_schema_keys_with_the_cores_defaults(cls: type[flowrl.Agent]) -> None:
    schema = _schema.schema(cls.algorithm)
    doc = cls.__doc__ or ""
    assert doc.startswith(schema.description)
    entries = [entry for entry in docstring_parameters(doc) if entry[0] not in PYTHON_ONLY]
    assert [name for name, _, _ in entries] == schema.names
    for (name, kind, default), key in zip(entries, schema.keys):
        assert ast.literal_eval(default) == key.default, name
        assert kind == key.type_name, name
        assert key.description.split()[0] in doc
    # help() shows it, with the core's descriptions
    rendered = pydoc.render_doc(cls, renderer=pydoc.plaintext)
    for key in schema.keys:
        assert f"{key.name} : {key.type_name}, default {key.default!r}" in rendered


@pytest.mark.parametrize("cls", CLASSES)
def test_the_signature_has_every_schema_key_with_its_default(cls: type[flowrl.Agent]) -> None:
    schema = _schema.schema(cls.algorithm)
    parameters = inspect.signature(cls).parameters
    assert [name for name in parameters if name not in PYTHON_SIGNATURE] == schema.names
    assert {name: parameters[name].default for name in schema.names} == schema.defaults


@pytest.mark.parametrize("cls", CLASSES)
def test_the_constructor_accepts_exactly_the_schema_keys(cls: type[flowrl.Agent]) -> None:
    schema = _schema.schema(cls.algorithm)
    spaces = {"observation_space": OBSERVATION_SPACE, "action_space": ACTION_SPACE}
    # every key given, at its default: the core's configuration is the schema's defaults
    with cls(None, **spaces, **schema.defaults) as agent:
        assert agent.config == schema.defaults
    with cls(None, **spaces) as agent:
        assert agent.config == schema.defaults
    # an unknown key: the core names it and lists the valid ones, which are the schema's
    with pytest.raises(InvalidArgumentError, match="unknown config key 'not_a_key'") as caught:
        cls(None, **spaces, not_a_key=1)
    valid = str(caught.value).split("valid keys: ", 1)[1]
    assert set(valid.split(", ")) == set(schema.names)


@pytest.mark.parametrize("cls", CLASSES)
def test_the_training_schedule_comes_from_the_config_or_the_schema(cls: type[flowrl.Agent]) -> None:
    schema = _schema.schema(cls.algorithm)
    with cls(None, observation_space=OBSERVATION_SPACE, action_space=ACTION_SPACE, batch_size=8, buffer_size=16) as agent:
        expected = tuple(agent.config.get(key, schema.training_loop_defaults[key]) for key in SCHEDULE)
        assert agent._train_schedule() == expected
    assert expected == tuple(schema.training_loop_defaults[key] for key in SCHEDULE)


def test_the_seed_default_and_range_are_the_cores() -> None:
    seed = _schema.schema("sac").key("seed")
    assert (seed.default, seed.minimum, seed.maximum) == (0, 0, 2**64 - 1)
    assert "In [0, 2**64 - 1]." in (flowrl.SAC.__doc__ or "")


# --------------------------------------------------------------------------- no copies in Python


def retyped_defaults(source: str, schemas: list[_schema.Schema]) -> list[str]:
    """Places in ``source`` that write a key next to its core default (numeric and list defaults:
    ``key=100``, ``"key": 100``, ``key [100]``, ``key`` [0.99], ``key, default 1``)."""
    found = []
    for schema in schemas:
        for key in schema.keys:
            if isinstance(key.default, str) or key.name == "seed":
                continue  # a choice's name appears in prose ("velocity='gated' is Flow-G"), seed=0 in examples and env resets
            text = ", ".join(map(str, key.default)) if isinstance(key.default, list) else str(key.default)
            pattern = rf"\b{key.name}\b[`'\"]*\s*(?::[^\n]{{0,40}}?\bdefault\b|=|:|\[|,? default)\s*[`'\"\[(]*{re.escape(text)}(?![\w.])"
            found += [f"{key.name} = {text}: {match.group(0)!r}" for match in re.finditer(pattern, source)]
    return found


def algorithm_name_literals(source: str, names: set[str]) -> list[tuple[str, bool]]:
    """Every string constant of ``source`` that is an algorithm name, and whether it is a class's
    ``algorithm = "..."`` registration."""
    tree = ast.parse(source)
    registrations = {id(node.value) for cls in ast.walk(tree) if isinstance(cls, ast.ClassDef) for node in cls.body
                     if isinstance(node, ast.Assign) and [getattr(target, "id", None) for target in node.targets] == ["algorithm"]}
    return [(node.value, id(node) in registrations) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names]


def test_the_detectors_find_the_copies_they_look_for() -> None:
    """The checkers themselves, on the kinds of copies the package used to hold."""
    schemas = [_schema.schema(name) for name in ALGORITHMS]
    for copy in ['_SCHEDULE_DEFAULTS = {"learning_starts": 100, "train_freq": 1, "gradient_steps": 1}',
                 "``batch_size`` [256], ``gamma`` [0.99]", "``hidden_sizes`` [256, 256]",
                 "uses the defaults ``learning_starts=100``", "learning_starts : int, default 100"]:
        assert retyped_defaults(copy, schemas), copy
    assert not retyped_defaults("def update(self, gradient_steps: int = 1) -> None: ...", schemas)
    literals = algorithm_name_literals('class A:\n    algorithm = "sac"\nNAMES = ["sac", "swfp"]\n', {"sac", "swfp"})
    assert sorted(literals) == [("sac", False), ("sac", True), ("swfp", False)]


def test_no_python_source_retypes_a_core_default() -> None:
    schemas = [_schema.schema(name) for name in ALGORITHMS]
    found = {path.name: retyped_defaults(path.read_text(), schemas) for path in SOURCES}
    assert not {name: places for name, places in found.items() if places}


def test_algorithm_names_appear_only_in_the_class_registrations() -> None:
    names = set(ALGORITHMS)
    registered: list[str] = []
    for path in SOURCES:
        for name, is_registration in algorithm_name_literals(path.read_text(), names):
            assert is_registration, f"{path.name} writes the algorithm name {name!r} outside a class registration"
            registered.append(name)
    assert sorted(registered) == sorted(names), "each algorithm is registered by exactly one class"
    for path in SOURCES:
        assert "_SCHEDULE_DEFAULTS" not in path.read_text(), path.name

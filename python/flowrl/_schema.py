"""The algorithms and their configuration schemas, as the Swift core publishes them.

The core is the one source of the algorithm names (``flowrl_algorithms``) and, for every
hyperparameter, of its default, its range or choices and its one-line description
(``flowrl_algorithm_schema``). The package derives from them, at import: each algorithm class's
docstring (its numpydoc ``Parameters``, so ``help(flowrl.SAC)`` shows the core's defaults), its
signature, the default seed and its range, and the training schedule :meth:`~flowrl.Agent.learn`
uses when a configuration has no schedule keys. Nothing here repeats a value of the core.
"""

from __future__ import annotations

import functools
import inspect
import json
import textwrap
from dataclasses import dataclass, field
from typing import Any, Optional

from . import _lib

#: The schema's value types and how numpydoc names them.
_TYPE_NAMES = {"integer": "int", "number": "float", "boolean": "bool", "integer_list": "list of int",
               "number_or_auto": "float or 'auto'", "integer_or_auto": "int or 'auto'"}


@dataclass(frozen=True)
class Key:
    """One configuration key: a keyword argument of the algorithm's class.

    Attributes
    ----------
    name : str
        The keyword (the core's JSON key).
    group : str
        ``"algorithm"`` for the algorithm's own keys, else the shared group (``"common"``,
        ``"replay"``, ``"critic"``, ``"temperature"``, ``"training_loop"``).
    type : str
        ``"integer"``, ``"number"``, ``"string"``, ``"boolean"``, ``"integer_list"``,
        ``"number_or_auto"`` or ``"integer_or_auto"``.
    default : Any
        The core's default.
    description : str
        One line.
    minimum, maximum : int or float, optional
        Inclusive bounds of the value (of each item of a list).
    exclusive_minimum : bool
        True when ``minimum`` itself is excluded.
    choices : tuple of str
        The allowed strings.
    multiple_of : int, optional
        A number the value must be a multiple of.
    min_length, max_length : int, optional
        Bounds of a list's length.
    follows : str, optional
        The key whose value this one takes when only that one is given.
    settable : bool
        True for a key a live agent may change (the learning rates): it takes a Stable-Baselines3
        schedule, a callable of the progress remaining, which :meth:`~flowrl.Agent.learn`
        evaluates before each update.
    legacy_value : Any, optional
        For a key added after checkpoints were first written: what a stored configuration without
        it means (the behaviour before the key existed). The core loads such a checkpoint with the
        key at this value, not at ``default``, which may have changed since.
    """

    name: str
    group: str
    type: str
    default: Any
    description: str
    minimum: Any = None
    maximum: Any = None
    exclusive_minimum: bool = False
    choices: tuple[str, ...] = ()
    multiple_of: Optional[int] = None
    min_length: Optional[int] = None
    max_length: Optional[int] = None
    follows: Optional[str] = None
    settable: bool = False
    legacy_value: Any = None

    @property
    def type_name(self) -> str:
        """The numpydoc type: ``int``, ``float``, ``bool``, ``list of int``, ``{'a', 'b'}``, ``float or 'auto'``
        (``float or callable`` for a key that takes a schedule)."""
        if self.type == "string":
            return "{" + ", ".join(repr(choice) for choice in self.choices) + "}"
        if self.settable:
            return f"{_TYPE_NAMES.get(self.type, self.type)} or callable"
        return _TYPE_NAMES.get(self.type, self.type)

    @property
    def range_text(self) -> str:
        """The values allowed beyond the type, in words ("" when any value of the type is)."""
        if self.minimum is None and self.maximum is None:
            return ""
        low = "(" if self.exclusive_minimum else "["
        interval = f"{low}{_number(self.minimum)}, {_number(self.maximum)}]"
        if self.type == "integer_list":
            return f"{self.min_length} to {self.max_length} widths, each in {interval}."
        even = {None: "", 2: ", even"}.get(self.multiple_of, f", a multiple of {self.multiple_of}")
        return f"In {interval}{even}."


@dataclass(frozen=True)
class Schema:
    """An algorithm's configuration schema (see ``flowrl_algorithm_schema`` in flowrl.h).

    Attributes
    ----------
    algorithm : str
        The core's name of the algorithm.
    description : str
        What it is, in one line.
    keys : tuple of Key
        Every configuration key, in the order the docstring lists them.
    training_loop_defaults : dict of str to int or str
        ``learning_starts``, ``train_freq``, ``gradient_steps`` and ``warmup_actions`` for a
        configuration without them.
    presets : dict of str to dict
        The named configurations (the ``preset`` keyword): each name with the keys it changes and
        their values. The core applies them; keywords given explicitly override them.
    renamed_keys : dict of str to str
        Keys renamed since checkpoints were first written, old name to new (SWFP's ``tau`` is
        ``jko_step``). The core migrates them in old checkpoints and refuses them in new
        configurations.
    """

    algorithm: str
    description: str
    keys: tuple[Key, ...]
    training_loop_defaults: dict[str, Any]
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)
    renamed_keys: dict[str, str] = field(default_factory=dict)

    def key(self, name: str) -> Key:
        """The key called ``name``; KeyError if there is none."""
        for key in self.keys:
            if key.name == name:
                return key
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        """The keys' names, in order."""
        return [key.name for key in self.keys]

    @property
    def defaults(self) -> dict[str, Any]:
        """Every key's default."""
        return {key.name: key.default for key in self.keys}

    def stored_meaning(self, configuration: dict[str, Any]) -> dict[str, Any]:
        """A stored agent configuration (a checkpoint's, a policy file's, a trial's record) as the
        core reads it when it loads a checkpoint: renamed keys under their new names, and the keys
        it lacks filled in, a key added since at its ``legacy_value`` (the behaviour before it
        existed, not today's default), a key that follows another at that key's stored value, any
        other at its default."""
        meaning = dict(configuration)
        for old, new in self.renamed_keys.items():
            if old in meaning and new not in meaning:
                meaning[new] = meaning.pop(old)
        # Legacy values first: a key that follows one added since follows its legacy value, as
        # the core, which fills them in before the following keys, does.
        meaning.update({key.name: key.legacy_value for key in self.keys if key.name not in meaning and key.legacy_value is not None})
        given = dict(meaning)
        for key in self.keys:
            if key.name not in given:
                meaning[key.name] = given.get(key.follows, key.default) if key.follows is not None else key.default
        return meaning


def _number(value: Any) -> str:
    """A bound as the docstring writes it: 1_000_000, 2**64 - 1, 1e-08, 0.5."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value >= 2**32 and (value + 1) & value == 0:
            return f"2**{value.bit_length()} - 1"
        if abs(value) >= 10_000:
            return f"{value:_}"
    return repr(value)


@functools.lru_cache(maxsize=None)
def algorithms() -> tuple[str, ...]:
    """The names of the algorithms the library implements."""
    return tuple(json.loads(_lib.string_result(_lib.lib.flowrl_algorithms)))


@functools.lru_cache(maxsize=None)
def schema(algorithm: str) -> Schema:
    """The configuration schema of ``algorithm``.

    Raises
    ------
    InvalidArgumentError
        For an algorithm the library does not implement (the message lists those it does).
    """
    raw = json.loads(_lib.string_result(_lib.lib.flowrl_algorithm_schema, algorithm.encode()))
    fields = set(Key.__dataclass_fields__)
    keys = tuple(Key(**{name: tuple(value) if name == "choices" else value for name, value in entry.items() if name in fields})
                 for entry in raw["keys"])
    return Schema(raw["algorithm"], raw["description"], keys, dict(raw["training_loop_defaults"]), dict(raw.get("presets", {})),
                  dict(raw.get("renamed_keys", {})))


def parameter_entry(key: Key, presets: Optional[dict[str, dict[str, Any]]] = None) -> str:
    """The numpydoc entry of ``key``: ``name : type, default value`` and its description (for the
    ``preset`` key, with the values each preset sets)."""
    notes = [key.description, key.range_text]
    if key.follows:
        notes.append(f"Takes ``{key.follows}``'s value when only that is given.")
    if key.settable:
        notes.append("A callable of the progress remaining (1 to 0 over a learn call) is a schedule, as in "
                     "Stable-Baselines3: learn sets the value before each update; checkpoints keep the value in use.")
    for name, values in (presets or {}).items():
        settings = ", ".join(f"{setting}={value!r}" for setting, value in sorted(values.items()))
        notes.append(f"{name!r} sets {settings}.")
    text = textwrap.fill(" ".join(note for note in notes if note), width=96, initial_indent="    ", subsequent_indent="    ")
    return f"{key.name} : {key.type_name}, default {key.default!r}\n{text}"


def class_docstring(schema: Schema, narrative: Optional[str], before: str, after: str, sections: str) -> str:
    """An algorithm class's docstring: the core's one-line description, the class's own
    ``narrative``, the ``Parameters`` (``before``, the schema's keys, ``after``: numpydoc entries)
    and the other ``sections``."""
    parts = [schema.description]
    if narrative and narrative.strip():
        parts.append(inspect.cleandoc(narrative))
    entries = [before.strip("\n"), *(parameter_entry(key, schema.presets if key.name == "preset" else None) for key in schema.keys),
               after.strip("\n")]
    parts.append("Parameters\n----------\n" + "\n".join(entry for entry in entries if entry))
    if sections.strip():
        parts.append(sections.strip("\n"))
    return "\n\n".join(parts) + "\n"


def signature(schema: Schema, before: list[inspect.Parameter], after: list[inspect.Parameter]) -> inspect.Signature:
    """The constructor's signature as ``help()`` shows it: ``before``, every key as a keyword with
    the core's default, then ``after``."""
    keys = [inspect.Parameter(key.name, inspect.Parameter.KEYWORD_ONLY, default=key.default) for key in schema.keys]
    return inspect.Signature([*before, *keys, *after])

"""A sweep's grid: the trials it expands to, each one's folder name, and the checks that run
before any trial does.

A :class:`TrialSpec` is plain data (JSON in ``config.json`` and in Ray Tune's ``param_space``):
everything that determines a trial's result, its label, plus the BLAS thread count it runs with.

An entry of ``algorithms`` is an algorithm (a name or a class) or a mapping with settings of its
own (:data:`ENTRY_KEYS`)::

    {"algorithm": "SACFlow", "label": "sac-flow-gated", "hyperparameters": {"velocity": "gated"}}
    {"algorithm": "SAC", "label": "sac-scratch", "dataset": None}      # no pretraining in this row
    {"algorithm": "stable_baselines3:SAC", "label": "sb3-sac", "policy": "MlpPolicy"}   # another library's class

An algorithm other than flowrl's (:data:`ALGORITHMS`) is *external*: a class with
Stable-Baselines3's interface, kept in the spec as its ``"module:Class"`` reference (see
:mod:`~flowrl.experiments._external`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Optional, Sequence, Union

import gymnasium as gym
import numpy as np

from .. import _checks, datasets
from ..agent import Agent, FlowBC
from ..errors import InvalidArgumentError
from ..rldt import RLDT
from ..sac import SAC
from ..sac_flow import SACFlow
from ..swfp import SWFP
from . import _external

#: The algorithms a sweep runs, by their class names (matched without regard to case).
ALGORITHMS: dict[str, type[Agent]] = {"SAC": SAC, "SWFP": SWFP, "SACFlow": SACFlow, "RLDT": RLDT, "FlowBC": FlowBC}

#: Hyperparameters as ``sweep`` takes them: a grid (each value a list of candidates) or a list of
#: explicit configurations.
Hyperparameters = Union[None, Mapping[str, Any], Sequence[Mapping[str, Any]]]

#: The fields of a :class:`TrialSpec` that decide its result or its row in a report (checked
#: against a folder's ``config.json`` before resuming in it).
IDENTITY_FIELDS = ("algorithm", "env", "seed", "hyperparameters", "timesteps", "eval_every", "eval_episodes",
                   "dataset", "pretrain_steps", "label", "policy")

#: The keys of a mapping in ``algorithms``: the algorithm (required), the label of its rows, its
#: own hyperparameter grid, its own dataset and pretraining steps (``dataset: None``: none), and
#: an external class's policy argument (default :data:`~flowrl.experiments._external.DEFAULT_POLICY`).
ENTRY_KEYS = ("algorithm", "label", "hyperparameters", "dataset", "pretrain_steps", "policy")

#: The Python-side settings of the learning loop that hyperparameters decide, recorded with the
#: core's configuration in a trial's ``config.json`` (see :func:`agent_configuration`).
LOOP_SETTINGS = ("train_freq_unit", "gradient_steps", "stats_window_size")

#: Constructor keywords a trial sets itself, refused as hyperparameters.
RESERVED_KEYS = ("seed", "log_dir", "env", "policy", "observation_space", "action_space", "action_noise")

_FOLDER_CHARACTERS = re.compile(r"[^A-Za-z0-9._=+-]+")
_LONGEST_SETTINGS = 100


@dataclass(frozen=True)
class TrialSpec:
    """One trial of a sweep: one algorithm, env, seed and hyperparameter configuration.

    Attributes
    ----------
    algorithm : str
        A key of :data:`ALGORITHMS`, or an external class's ``"module:Class"`` reference.
    env : str
        A Gymnasium environment id.
    seed : int
        The agent's seed; the env's and the evaluations' seeds are derived from it.
    hyperparameters : dict
        Keyword arguments of the algorithm's constructor (JSON values).
    timesteps : int
        Environment steps of online learning.
    eval_every : int
        Steps between evaluations (and checkpoints); the last one is at ``timesteps``.
    eval_episodes : int
        Episodes per evaluation.
    dataset : str or None
        A :func:`flowrl.datasets.load` id or path; the agent is pretrained on it first.
    pretrain_steps : int
        Pretraining steps with ``dataset``.
    name : str
        The trial's folder name inside the sweep's storage.
    blas_threads : int
        OpenBLAS threads of the agent (does not change the result on one machine).
    label : str or None
        The name of the trial's row in a report (an entry's ``label``); None: the algorithm's name.
    policy : str or None
        An external class's first argument (``"MlpPolicy"``); None for flowrl's algorithms.
    """

    algorithm: str
    env: str
    seed: int
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    timesteps: int = 10_000
    eval_every: int = 1_000
    eval_episodes: int = 10
    dataset: Optional[str] = None
    pretrain_steps: int = 10_000
    name: str = ""
    blas_threads: int = 1
    label: Optional[str] = None
    policy: Optional[str] = None

    def to_dict(self) -> dict[str, Any]:
        """The spec as JSON values."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrialSpec":
        """The spec :meth:`to_dict` gave.

        Raises
        ------
        InvalidArgumentError
            For a missing or unknown field.
        """
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidArgumentError(f"trial spec: unknown fields {unknown}")
        try:
            return cls(**dict(data))
        except TypeError as error:
            raise InvalidArgumentError(f"trial spec: {error}") from None

    @property
    def external(self) -> bool:
        """Whether the algorithm is another library's class (not one of :data:`ALGORITHMS`): its
        trial cannot resume from a checkpoint, and starts again from step 0 when interrupted."""
        return self.algorithm not in ALGORITHMS

    def identity(self) -> dict[str, Any]:
        """The fields that decide the trial's result."""
        return {key: getattr(self, key) for key in IDENTITY_FIELDS}

    @property
    def configuration(self) -> tuple[str, str, str, str]:
        """``(label or algorithm, algorithm, env, hyperparameters as sorted JSON)``: what the seeds
        of one configuration (one row of a report) share."""
        return self.label or self.algorithm, self.algorithm, self.env, json.dumps(self.hyperparameters, sort_keys=True)

    def describe(self) -> str:
        """``"SACFlow (sac-flow-gated) on Pendulum-v1 with {...}"``: the trial's settings in a message."""
        label = f" ({self.label})" if self.label else ""
        return f"{self.algorithm}{label} on {self.env} with {self.hyperparameters}"


def algorithm_name(algorithm: Any) -> str:
    """How a trial spec names an algorithm: the key of :data:`ALGORITHMS` for flowrl's classes
    (given as the class, its name in any case, or ``"flowrl:SAC"``), else the ``"module:Class"``
    reference of an external class (given as the class or the reference, which is not imported
    here; a subclass of flowrl's classes is external too).

    Raises
    ------
    InvalidArgumentError
        Naming ``algorithm``: an unknown name (listing flowrl's algorithms), or a class that a
        trial process cannot import by its name.
    """
    if isinstance(algorithm, type):
        for key, cls in ALGORITHMS.items():
            if cls is algorithm:
                return key
        return _external.reference(algorithm)
    if isinstance(algorithm, str):
        for key in ALGORITHMS:
            if key.lower() == algorithm.lower():
                return key
        if _external.is_reference(algorithm):
            module = algorithm.partition(":")[0]
            return algorithm_name(_external.resolve(algorithm)) if module.split(".")[0] == "flowrl" else algorithm
    raise InvalidArgumentError(f"unknown algorithm {algorithm!r}; sweep runs {sorted(ALGORITHMS)}, or another "
                               "library's class with Stable-Baselines3's interface (the class, or 'module:Class' such "
                               "as 'stable_baselines3:SAC')")


def hyperparameter_grid(hyperparameters: Hyperparameters) -> list[dict[str, Any]]:
    """The configurations a ``hyperparameters`` argument stands for.

    Parameters
    ----------
    hyperparameters : dict, list of dict or None
        A dict is a grid: each value a list of candidate values (the product is taken); a value
        that is not a list is a single fixed value. A list-valued hyperparameter such as
        ``hidden_sizes`` is therefore given as a list of lists (``{"hidden_sizes": [[64, 64]]}``).
        A list of dicts is an explicit list of configurations. None is one empty configuration.

    Returns
    -------
    list of dict
        JSON-valued configurations, in grid order (the first key varies slowest).

    Raises
    ------
    InvalidArgumentError
        For a key that is not a string, a key the trial sets itself (:data:`RESERVED_KEYS`), an
        empty list of candidates, a value JSON cannot carry or a configuration given twice.
    """
    if hyperparameters is None:
        return [{}]
    if isinstance(hyperparameters, Mapping):
        axes: list[list[Any]] = []
        for key, values in hyperparameters.items():
            if not isinstance(key, str):
                raise InvalidArgumentError(f"hyperparameters: keys must be strings, got {key!r}")
            candidates = list(values) if isinstance(values, (list, tuple)) else [values]
            if not candidates:
                raise InvalidArgumentError(f"hyperparameters: {key!r} has no candidate values")
            axes.append([_checks.config_value(value, key) for value in candidates])
        configurations = [dict(zip(hyperparameters.keys(), values)) for values in itertools.product(*axes)]
    elif isinstance(hyperparameters, (list, tuple)):
        configurations = []
        for index, configuration in enumerate(hyperparameters):
            if not isinstance(configuration, Mapping) or not all(isinstance(key, str) for key in configuration):
                raise InvalidArgumentError(f"hyperparameters[{index}] must be a dict of str keys, got "
                                           f"{type(configuration).__name__}")
            configurations.append({key: _checks.config_value(value, key) for key, value in configuration.items()})
        if not configurations:
            raise InvalidArgumentError("hyperparameters is an empty list; give None for the defaults")
    else:
        raise InvalidArgumentError(f"hyperparameters must be a dict (a grid), a list of dicts or None, got "
                                   f"{type(hyperparameters).__name__}")
    for configuration in configurations:
        reserved = sorted(set(configuration) & set(RESERVED_KEYS))
        if reserved:
            raise InvalidArgumentError(f"hyperparameters: {reserved} cannot be swept this way (the sweep sets the seed, "
                                       "the env and the log folder itself; give seeds with seeds=, and an external "
                                       "class's policy with its entry's 'policy')")
    seen = [json.dumps(configuration, sort_keys=True) for configuration in configurations]
    if len(set(seen)) != len(seen):
        raise InvalidArgumentError("hyperparameters: a configuration is given twice")
    return configurations


def folder_name(algorithm: str, env: str, hyperparameters: Mapping[str, Any], seed: int) -> str:
    """The trial's folder name: ``SAC_Pendulum-v1_learning_rate=0.001_seed0`` (a list value as
    ``hidden_sizes=64x64``, other characters than letters, digits and ``._=+-`` as ``-``); hyperparameters
    longer than 60 characters are replaced by a hash of their JSON."""
    settings = "_".join(f"{key}={_short(value)}" for key, value in sorted(hyperparameters.items()))
    if len(settings) > _LONGEST_SETTINGS:
        settings = "hp-" + hashlib.sha1(json.dumps(hyperparameters, sort_keys=True).encode()).hexdigest()[:12]
    parts = [algorithm, env] + ([settings] if settings else []) + [f"seed{seed}"]
    return _FOLDER_CHARACTERS.sub("-", "_".join(parts))


def _short(value: Any) -> str:
    """A hyperparameter's value in a folder name: lists joined by ``x`` (``[64, 64]`` is ``64x64``)."""
    if isinstance(value, list):
        return "x".join(_short(item) for item in value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def expand(algorithms: Sequence[Any], envs: Sequence[str], seeds: Sequence[int], timesteps: int,
           hyperparameters: Hyperparameters = None, *, eval_every: Optional[int] = None, eval_episodes: int = 10,
           dataset: Any = None, pretrain_steps: int = 10_000, blas_threads: int = 1) -> list[TrialSpec]:
    """Checks a sweep's arguments and lists its trials (entry of ``algorithms``, then env, then
    configuration, then seed). Nothing runs and no agent is created here (see :func:`validate`).

    Parameters
    ----------
    algorithms : sequence
        Each an algorithm (a name of :data:`ALGORITHMS`, case-insensitive, or the class, or an
        external class or its ``"module:Class"``, see :func:`algorithm_name`) run with
        ``hyperparameters``, or a mapping with the keys of :data:`ENTRY_KEYS`: ``algorithm``
        (required), ``label`` (its rows' name in reports and its folders' prefix), ``hyperparameters``
        (a grid of its own, crossed with the sweep's, which must not set the same keys),
        ``dataset`` and ``pretrain_steps`` (instead of the sweep's; ``dataset: None`` runs the entry
        without pretraining), ``policy`` (an external class's first argument, default
        ``"MlpPolicy"``).
    envs, seeds, timesteps, hyperparameters, eval_every, eval_episodes, dataset, pretrain_steps, blas_threads
        As :func:`flowrl.experiments.sweep` takes them.

    Returns
    -------
    list of TrialSpec

    Raises
    ------
    InvalidArgumentError
        Naming the bad argument: an unknown algorithm or entry key, an env that is not an id
        string, a seed out of range or repeated, a non-positive budget, a hyperparameter set both
        by the sweep and by an entry, a policy for flowrl's algorithm or a dataset for an external
        one, two entries with the same trials, two trials in one folder. An external class's
        reference is not imported here.
    """
    envs = _as_list(envs, "envs")
    seeds = _as_list(seeds, "seeds")
    for env in envs:
        if not isinstance(env, str) or not env:
            raise InvalidArgumentError(f"envs must be Gymnasium environment ids (strings), got {env!r}")
    if len(set(envs)) != len(envs):
        raise InvalidArgumentError(f"envs: an env is given twice in {envs}")
    seeds = [_checks.integer(seed, "seed", 0, 2**63 - 1) for seed in seeds]
    if len(set(seeds)) != len(seeds):
        raise InvalidArgumentError(f"seeds: a seed is given twice in {seeds}")
    timesteps = _checks.integer(timesteps, "timesteps", 1, 2**53)
    eval_every = max(1, timesteps // 10) if eval_every is None else eval_every
    eval_every = _checks.integer(eval_every, "eval_every", 1, 2**53)
    eval_episodes = _checks.integer(eval_episodes, "eval_episodes", 1, 2**31)
    blas_threads = _checks.integer(blas_threads, "blas_threads", 1, 1024)
    shared = _Entry("", None, hyperparameter_grid(hyperparameters), _dataset_reference(dataset),
                    _checks.integer(pretrain_steps, "pretrain_steps", 0, 2**53))
    entries = [_entry(entry, index, shared) for index, entry in enumerate(_as_list(algorithms, "algorithms"))]
    _check_distinct(entries)
    specs = [TrialSpec(entry.algorithm, env, seed, configuration, timesteps, eval_every, eval_episodes, entry.dataset,
                       entry.pretrain_steps, folder_name(entry.label or entry.algorithm, env, configuration, seed),
                       blas_threads, entry.label, entry.policy)
             for entry in entries for env in envs for configuration in entry.configurations for seed in seeds]
    if len({spec.name for spec in specs}) != len(specs):  # two configurations that print alike: name them by hash
        specs = [TrialSpec(**{**spec.to_dict(), "name": folder_name(spec.configuration[0], spec.env,
                                                                     {"hp": spec.configuration[3]}, spec.seed)})
                 for spec in specs]
    folders: dict[str, TrialSpec] = {}
    for spec in specs:
        other = folders.setdefault(spec.name, spec)
        if other is not spec:
            raise InvalidArgumentError(f"{other.describe()} and {spec.describe()} would share the folder {spec.name}; "
                                       "give their entries labels that differ in letters or digits")
    return specs


@dataclass(frozen=True)
class _Entry:
    """One entry of ``algorithms``: its algorithm, label, configurations (the sweep's grid crossed
    with its own), dataset, pretraining steps and an external class's policy argument."""

    algorithm: str
    label: Optional[str]
    configurations: list[dict[str, Any]]
    dataset: Optional[str]
    pretrain_steps: int
    policy: Optional[str] = None


def _entry(entry: Any, index: int, shared: _Entry) -> _Entry:
    """An entry of ``algorithms``, checked, with the sweep's settings where it has none.

    Raises
    ------
    InvalidArgumentError
        Naming ``algorithms[index]``: an unknown algorithm or key, a bad label or policy, a
        hyperparameter set by both the sweep and the entry, a policy for one of flowrl's
        algorithms, a dataset for an external class.
    """
    if not isinstance(entry, Mapping):
        entry = {"algorithm": entry}
    where = f"algorithms[{index}]"
    unknown = [key for key in entry if key not in ENTRY_KEYS]
    if unknown:
        raise InvalidArgumentError(f"{where}: unknown keys {unknown}; an entry takes {list(ENTRY_KEYS)} (constructor "
                                   "settings go under its hyperparameters)")
    if "algorithm" not in entry:
        raise InvalidArgumentError(f"{where} names no algorithm (its 'algorithm' key)")
    try:
        algorithm = algorithm_name(entry["algorithm"])
    except InvalidArgumentError as error:
        raise InvalidArgumentError(f"{where}: {error}") from None
    label = entry.get("label")
    if label is not None and (not isinstance(label, str) or not label.strip()):
        raise InvalidArgumentError(f"{where}: label must be a non-empty string, got {label!r}")
    external = algorithm not in ALGORITHMS
    if "policy" in entry and not external:
        raise InvalidArgumentError(f"{where}: 'policy' is an external class's first argument; {algorithm}'s settings "
                                   "go under its hyperparameters")
    policy = entry.get("policy", _external.DEFAULT_POLICY) if external else None
    if external and (not isinstance(policy, str) or not policy):
        raise InvalidArgumentError(f"{where}: policy must be a non-empty string (such as 'MlpPolicy'), got {policy!r}")
    try:
        own = hyperparameter_grid(entry.get("hyperparameters"))
    except InvalidArgumentError as error:
        raise InvalidArgumentError(f"{where}: {error}") from None
    configurations = []
    for settings in shared.configurations:
        for extra in own:
            both = sorted(set(settings) & set(extra))
            if both:
                raise InvalidArgumentError(f"{where} sets {both}, which the sweep's hyperparameters set too; set each "
                                           "key in one place (in every entry that needs it, or in the sweep's grid)")
            configurations.append({**settings, **extra})
    dataset = _dataset_reference(entry["dataset"]) if "dataset" in entry else shared.dataset
    pretrain_steps = (_checks.integer(entry["pretrain_steps"], f"{where}.pretrain_steps", 0, 2**53)
                      if "pretrain_steps" in entry else shared.pretrain_steps)
    if external and dataset is not None:
        raise InvalidArgumentError(f"{where}: {algorithm} is another library's class, which the sweep cannot pretrain "
                                   f"on the dataset {dataset!r} (only flowrl's algorithms pretrain); give the entry "
                                   "\"dataset\": None to run it from scratch")
    return _Entry(algorithm, label, configurations, dataset, pretrain_steps, policy)


def _check_distinct(entries: list[_Entry]) -> None:
    """Raises InvalidArgumentError when two entries have a trial in common (the same algorithm,
    policy, hyperparameters, dataset and pretraining steps: the same results under two names)."""
    seen: dict[tuple[str, Optional[str], str, Optional[str], int], int] = {}
    for index, entry in enumerate(entries):
        for configuration in entry.configurations:
            key = (entry.algorithm, entry.policy, json.dumps(configuration, sort_keys=True), entry.dataset,
                   entry.pretrain_steps)
            first = seen.setdefault(key, index)
            if first != index:
                raise InvalidArgumentError(f"algorithms[{first}] and algorithms[{index}] both run {entry.algorithm} with "
                                           f"{configuration} (same dataset and pretraining); give each configuration once")


def agent_configuration(spec: TrialSpec, observation_space: Optional[gym.Space] = None,
                        action_space: Optional[gym.Space] = None) -> dict[str, Any]:
    """What a trial's hyperparameters resolve to: the configuration of its agent, created once
    (untrained) for the env's spaces. An external class is imported and its interface and
    constructor's signature checked instead (nothing is created).

    Parameters
    ----------
    spec : TrialSpec
    observation_space, action_space : gymnasium.Space, optional
        The env's spaces; when not given, the env is made to read them.

    Returns
    -------
    dict
        ``{"core": the core's configuration (every key, defaults included, as agent.info()
        reports it), "python": the loop's settings of LOOP_SETTINGS that were given}`` as JSON
        values. A trial's ``config.json`` records it, so that a resumed trial whose
        hyperparameters now mean something else (a renamed key, a changed default) is refused.
        For an external class, ``{"external": {"class", "policy", "version"}}`` (the version of
        its top-level package, recorded, not compared).

    Raises
    ------
    InvalidArgumentError
        Naming the algorithm (and label), env and hyperparameters: an unknown key or bad value, or
        an env that cannot be made; for an external class, a reference that does not import, a
        missing method or a hyperparameter its constructor does not take.
    """
    if spec.external:
        try:
            _external.check_interface(_external.resolve(spec.algorithm), spec.algorithm, spec.policy,
                                      spec.hyperparameters)
        except InvalidArgumentError as error:
            raise InvalidArgumentError(f"{spec.describe()}: {error}") from None
        return {"external": {"class": spec.algorithm, "policy": spec.policy, "version": _external.version(spec.algorithm)}}
    if observation_space is None or action_space is None:
        observation_space, action_space = _spaces(spec.env)
    try:
        agent = ALGORITHMS[spec.algorithm](observation_space=observation_space, action_space=action_space,
                                           seed=spec.seed, **spec.hyperparameters)
    except InvalidArgumentError as error:
        raise InvalidArgumentError(f"{spec.describe()}: {error}") from None
    try:
        loop = agent._training_metadata()
        configuration = {"core": agent.info()["config"],
                         "python": {key: loop[key] for key in LOOP_SETTINGS if key in loop}}
    finally:
        agent.close()
    return json.loads(json.dumps(configuration))


def validate(specs: Sequence[TrialSpec]) -> dict[str, dict[str, Any]]:
    """Creates each trial's agent once (not trained; an external class is imported and its
    signatures checked) and loads each dataset, so that an unknown env, an unknown or out-of-range
    hyperparameter or a dataset that does not fit fails before any trial runs.

    Returns
    -------
    dict
        Each trial's :func:`agent_configuration`, by trial name.

    Raises
    ------
    InvalidArgumentError
        Naming the env, the algorithm and hyperparameter, or the dataset.
    """
    spaces = {env_id: _spaces(env_id) for env_id in sorted({spec.env for spec in specs})}
    configurations = {spec.name: agent_configuration(spec, *spaces[spec.env]) for spec in specs}
    for dataset, env_id in sorted({(spec.dataset, spec.env) for spec in specs if spec.dataset is not None}):
        datasets.as_transitions(dataset, *spaces[env_id])
    return configurations


def _spaces(env_id: str) -> tuple[gym.Space, gym.Space]:
    """The observation and action spaces of the env ``env_id`` (made once, then closed).

    Raises
    ------
    InvalidArgumentError
        Naming the env, when Gymnasium cannot make it.
    """
    try:
        env = gym.make(env_id)
    except Exception as error:  # gymnasium's own errors (unregistered id, missing extra)
        raise InvalidArgumentError(f"env {env_id!r} cannot be made: {type(error).__name__}: {error}") from None
    try:
        return env.observation_space, env.action_space
    finally:
        env.close()


def _dataset_reference(dataset: Any) -> Optional[str]:
    """A dataset as a string every trial process can read: an existing path made absolute, or a
    Minari id as it is."""
    if dataset is None:
        return None
    if not isinstance(dataset, (str, os.PathLike)):
        raise InvalidArgumentError(f"dataset must be a flowrl.datasets id or path (a string), got "
                                   f"{type(dataset).__name__}; save a Transitions with save_npz and pass its path")
    text = os.fspath(dataset)
    if not text:
        raise InvalidArgumentError("dataset is an empty string")
    return os.path.abspath(text) if os.path.exists(text) else text


def _as_list(values: Any, name: str) -> list[Any]:
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple, np.ndarray, range)):
        values = [values]
    values = list(values)
    if not values:
        raise InvalidArgumentError(f"{name} is empty")
    return values

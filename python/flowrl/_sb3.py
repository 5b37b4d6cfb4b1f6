"""Stable-Baselines3's constructor arguments, mapped onto flowrl's.

A Stable-Baselines3 user writes ``SAC("MlpPolicy", "Pendulum-v1", tau=0.01, ent_coef="auto_0.1",
train_freq=(4, "episode"), gradient_steps=-1, policy_kwargs=dict(net_arch=[64, 64]),
device="cpu")``. This module turns such a call into what :class:`flowrl.Agent` takes: the
configuration keys of the core's schema (``critic_tau``, ``alpha``, ``initial_alpha``,
``hidden_sizes``, ...) and the settings that live in Python (the training loop's
``gradient_steps=-1`` and episode-based ``train_freq``, action noise, the episode window,
TensorBoard's folder). It only renames and splits: every default and range check stays in the
core (a mapped value the core refuses is reported under the key the core knows, with the
Stable-Baselines3 name it came from in the message).

Imports :mod:`flowrl._checks`, :mod:`flowrl._schema` and :mod:`flowrl.errors` only.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from . import _checks
from ._schema import Schema
from .errors import InvalidArgumentError

#: Stable-Baselines3's name for a multilayer-perceptron policy: every flowrl algorithm's own policy.
MLP_POLICY = "MlpPolicy"

#: Stable-Baselines3's name for the policy of Dict observation spaces: flowrl's own policy on the
#: flattened observations, accepted for a Dict or Tuple observation space only (as Stable-Baselines3).
MULTI_INPUT_POLICY = "MultiInputPolicy"

#: Stable-Baselines3 policies flowrl does not implement (or not for every space), and why.
UNSUPPORTED_POLICIES = {
    "CnnPolicy": "flowrl's networks are multilayer perceptrons on flat observations (no CNN, no image observations)",
    MULTI_INPUT_POLICY: "it is for Dict (or Tuple) observation spaces, which flowrl flattens; this observation "
                        "space is a Box: use 'MlpPolicy'",
}

#: Stable-Baselines3 arguments accepted only with the value that means "not used", and why.
_FIXED_ARGUMENTS: dict[str, tuple[tuple[Any, ...], str]] = {
    "replay_buffer_class": ((None,), "the replay buffer lives in the core; only its buffer_size and batch_size are set"),
    "replay_buffer_kwargs": ((None, {}), "the replay buffer lives in the core; only its buffer_size and batch_size are set"),
    "optimize_memory_usage": ((False,), "the core's replay buffer has one layout"),
    "use_sde": ((False,), "generalised state-dependent exploration (gSDE) is not implemented"),
    "sde_sample_freq": ((-1,), "generalised state-dependent exploration (gSDE) is not implemented"),
    "use_sde_at_warmup": ((False,), "generalised state-dependent exploration (gSDE) is not implemented"),
    "_init_setup_model": ((True,), "the core builds the networks when the agent is created"),
    "create_eval_env": ((False,), "use flowrl.callbacks.EvalCallback"),
}

#: policy_kwargs keys flowrl maps, with what they become.
_POLICY_KWARGS = ("net_arch", "activation_fn", "n_critics")

#: Units of ``train_freq=(n, unit)``.
TRAIN_FREQ_UNITS = ("step", "episode")


@dataclass
class Mapped:
    """A constructor call split into the core's configuration and the loop's Python-side settings.

    Attributes
    ----------
    config : dict
        Configuration keys of the schema (the core checks their values).
    python : dict
        ``train_freq_unit``, ``gradient_steps`` (only ``-1``), ``stats_window_size``: settings of the
        Python loop kept in checkpoints.
    action_noise : Any
        The action noise object (not kept in checkpoints).
    sources : dict
        ``core key -> the Stable-Baselines3 argument it came from``, for error messages.
    schedules : dict
        ``settable core key -> schedule``: Stable-Baselines3's learning-rate schedules, callables of
        the progress remaining (1.0 at the start of a ``learn`` call, 0.0 at its end). ``config``
        holds each one's value at 1.0. A key that follows a scheduled key (SAC's
        ``critic_learning_rate`` follows ``learning_rate``) and was not given follows its schedule.
        Not kept in checkpoints (they keep the value in use).
    """

    config: dict[str, Any] = field(default_factory=dict)
    python: dict[str, Any] = field(default_factory=dict)
    action_noise: Any = None
    sources: dict[str, str] = field(default_factory=dict)
    schedules: dict[str, Callable[[float], Any]] = field(default_factory=dict)


def policy_settings(policy: Any, aliases: dict[str, dict[str, Any]], structured: bool = False) -> dict[str, Any]:
    """The configuration a policy name selects.

    Parameters
    ----------
    policy : str
        ``"MlpPolicy"`` (the algorithm's own policy), ``"MultiInputPolicy"`` (the same policy on
        a flattened Dict or Tuple observation space) or a name of ``aliases``.
    aliases : dict
        The class's policy names and the keys each sets (``{"FlowG": {"velocity": "gated"}}``).
    structured : bool
        Whether the observation space is a Dict or Tuple (``"MultiInputPolicy"`` needs one).

    Raises
    ------
    InvalidArgumentError
        For a policy class, an unknown name or a Stable-Baselines3 policy flowrl lacks.
    """
    if not isinstance(policy, str):
        raise InvalidArgumentError(
            f"policy must be a policy name such as {MLP_POLICY!r}, got {type(policy).__name__} "
            f"(flowrl builds its own networks; Stable-Baselines3 policy classes are not used)")
    if policy == MLP_POLICY or (policy == MULTI_INPUT_POLICY and structured):
        return {}
    if policy in aliases:
        return dict(aliases[policy])
    if policy in UNSUPPORTED_POLICIES:
        raise InvalidArgumentError(f"policy {policy!r} is not supported: {UNSUPPORTED_POLICIES[policy]}")
    names = ", ".join(repr(name) for name in [MLP_POLICY, *aliases])
    raise InvalidArgumentError(f"unknown policy {policy!r}; this algorithm takes {names}")


def check_device(device: Any) -> None:
    """Accepts ``"cpu"``, ``"auto"`` (and ``torch.device("cpu")``, by its text); refuses others.

    Raises
    ------
    InvalidArgumentError
        For a GPU or any other device: flowrl computes on the CPU only.
    """
    text = str(device).lower() if device is not None else "auto"
    if text not in ("cpu", "auto"):
        raise InvalidArgumentError(f"device={device!r}: flowrl runs on the CPU only (its core is Swift on OpenBLAS); "
                                   "pass device='cpu' or 'auto'")


def make_env(env: Any) -> Any:
    """``gymnasium.make(env)`` for an environment id, else ``env`` unchanged.

    Raises
    ------
    InvalidArgumentError
        For an id gymnasium does not know (the message is gymnasium's).
    """
    if not isinstance(env, str):
        return env
    import gymnasium

    try:
        return gymnasium.make(env)
    except gymnasium.error.Error as error:
        raise InvalidArgumentError(f"env {env!r}: {error}") from None


def is_env_id(value: Any) -> bool:
    """True for a string gymnasium's registry knows."""
    if not isinstance(value, str):
        return False
    import gymnasium

    return value in gymnasium.registry


def _layer_sizes(value: Any, name: str) -> list[int]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise InvalidArgumentError(f"{name} must be a list of layer widths, got {value!r}")
    return [_checks.integer(width, name, 1, 2**31 - 1) for width in value]


def map_policy_kwargs(policy_kwargs: Any, schema: Schema) -> dict[str, Any]:
    """``policy_kwargs`` as configuration keys.

    ``net_arch=[64, 64]`` sets ``hidden_sizes`` (and ``critic_hidden_sizes`` where the algorithm
    has a critic); ``net_arch=dict(pi=[...], qf=[...])`` sets them apart. ``activation_fn`` (a
    class such as ``torch.nn.ReLU``, read by its name, or a name) sets ``activation`` where the
    algorithm has that key. ``n_critics`` must be 2 (the twin critic).

    Raises
    ------
    InvalidArgumentError
        For any other key, or a value flowrl cannot take, naming it.
    """
    if policy_kwargs is None:
        return {}
    if not isinstance(policy_kwargs, dict):
        raise InvalidArgumentError(f"policy_kwargs must be a dict, got {type(policy_kwargs).__name__}")
    unknown = sorted(set(policy_kwargs) - set(_POLICY_KWARGS))
    if unknown:
        raise InvalidArgumentError(f"policy_kwargs {unknown} are not supported; flowrl maps {list(_POLICY_KWARGS)} "
                                   "(other settings are keyword arguments of the algorithm)")
    config: dict[str, Any] = {}
    has_critic = "critic_hidden_sizes" in schema.names
    net_arch = policy_kwargs.get("net_arch")
    if isinstance(net_arch, dict):
        extra = sorted(set(net_arch) - {"pi", "qf"})
        if extra:
            raise InvalidArgumentError(f"policy_kwargs net_arch keys {extra} are not supported; use 'pi' and 'qf'")
        if "pi" in net_arch:
            config["hidden_sizes"] = _layer_sizes(net_arch["pi"], "policy_kwargs net_arch['pi']")
        if "qf" in net_arch:
            if not has_critic:
                raise InvalidArgumentError(f"policy_kwargs net_arch['qf']: {schema.algorithm} has no critic")
            config["critic_hidden_sizes"] = _layer_sizes(net_arch["qf"], "policy_kwargs net_arch['qf']")
    elif net_arch is not None:
        sizes = _layer_sizes(net_arch, "policy_kwargs net_arch")
        config["hidden_sizes"] = sizes
        if has_critic:
            config["critic_hidden_sizes"] = list(sizes)
    activation = policy_kwargs.get("activation_fn")
    if activation is not None:
        name = (activation if isinstance(activation, str) else getattr(activation, "__name__", repr(activation))).lower()
        try:
            choices = schema.key("activation").choices
        except KeyError:
            raise InvalidArgumentError(f"policy_kwargs activation_fn: {schema.algorithm} has no activation setting") from None
        if name not in choices:
            raise InvalidArgumentError(f"policy_kwargs activation_fn {name!r} is not one of {list(choices)}")
        config["activation"] = name
    n_critics = policy_kwargs.get("n_critics")
    if n_critics is not None and (not has_critic or n_critics != 2):
        raise InvalidArgumentError(f"policy_kwargs n_critics={n_critics!r}: flowrl's critic is a twin (n_critics=2)")
    return config


def _train_freq(value: Any) -> tuple[Any, str]:
    """``train_freq`` as ``(n, unit)``: an int, ``(n, "step" | "episode")`` or Stable-Baselines3's
    ``TrainFreq`` (its unit read through ``.value``)."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise InvalidArgumentError(f"train_freq must be an int or (n, 'step' | 'episode'), got {value!r}")
        frequency, unit = value
        unit = getattr(unit, "value", unit)
        if unit not in TRAIN_FREQ_UNITS:
            raise InvalidArgumentError(f"train_freq's unit must be 'step' or 'episode', got {unit!r}")
        return frequency, unit
    return value, "step"


def map_hyperparameters(hyperparameters: dict[str, Any], schema: Schema) -> Mapped:
    """Stable-Baselines3's keyword arguments split into configuration keys and Python settings.

    Names the schema knows pass unchanged (so a flowrl key always wins its own meaning). Renamed
    where the schema lacks the name: ``tau`` → ``critic_tau`` (for every algorithm with a critic;
    SWFP's JKO step, once called ``tau``, is ``jko_step``, and ``tau`` given to SWFP warns of that),
    ``ent_coef`` → ``alpha`` (``"auto_0.1"`` → ``alpha="auto"``, ``initial_alpha=0.1``). A callable
    for a settable key (``learning_rate``, ``critic_learning_rate``) is a schedule
    (:attr:`Mapped.schedules`). Python-side: ``train_freq=(n, "episode")``, ``gradient_steps=-1``,
    ``action_noise``, ``stats_window_size``.

    Raises
    ------
    InvalidArgumentError
        Naming the argument, for a schedule of a key that takes none (or one whose value at 1.0 is
        not a number), an argument fixed to its unused value, or an ent_coef / train_freq flowrl
        cannot read.
    """
    mapped = Mapped()
    names = set(schema.names)
    settable = [key.name for key in schema.keys if key.settable]
    for name, value in hyperparameters.items():
        if name in _FIXED_ARGUMENTS:
            allowed, reason = _FIXED_ARGUMENTS[name]
            if not any(value is option or (type(value) is type(option) and value == option) for option in allowed):
                raise InvalidArgumentError(f"{name}={value!r} is not supported: {reason}")
        elif name == "action_noise":
            if value is not None and not callable(value):
                raise InvalidArgumentError(f"action_noise must be a flowrl.noise.ActionNoise (callable), got {type(value).__name__}")
            mapped.action_noise = value
        elif name == "stats_window_size":
            mapped.python["stats_window_size"] = _checks.integer(value, "stats_window_size", 1, 2**31 - 1)
        elif name == "train_freq" and "train_freq" in names:
            frequency, unit = _train_freq(value)
            mapped.config["train_freq"] = frequency
            if unit != "step":
                mapped.python["train_freq_unit"] = unit
        elif name == "gradient_steps" and "gradient_steps" in names and _is_minus_one(value):
            mapped.python["gradient_steps"] = -1  # as many gradient steps as transitions collected
        elif callable(value) and name in names:
            if name not in settable:
                raise InvalidArgumentError(f"{name} takes no schedule (a callable): only {settable} can change during "
                                           "training; pass a value")
            mapped.schedules[name] = value
            mapped.config[name] = schedule_value(value, 1.0, name)
        elif name in names:
            if name in mapped.sources:
                raise InvalidArgumentError(f"{mapped.sources[name]} and {name} both set {name}; pass one of them")
            mapped.config[name] = value
        elif name == "tau" and "critic_tau" in names:
            if "tau" in schema.renamed_keys:
                warnings.warn(f"{schema.algorithm}: tau is Stable-Baselines3's Polyak rate of the critic's targets "
                              f"(critic_tau) here; the key once called tau is now {schema.renamed_keys['tau']}",
                              FutureWarning, stacklevel=3)
            _put(mapped, "critic_tau", value, "tau")
        elif name == "ent_coef" and "alpha" in names:
            _map_ent_coef(mapped, value)
        else:
            mapped.config[name] = value  # the core refuses an unknown key by name, listing the valid ones
    for key in schema.keys:  # a key that follows a scheduled one, not given itself, follows its schedule
        if key.settable and key.follows in mapped.schedules and key.name not in mapped.config:
            mapped.schedules[key.name] = mapped.schedules[key.follows]
    return mapped


def schedule_value(schedule: Callable[[float], Any], progress_remaining: float, key: str) -> float:
    """A schedule's value at ``progress_remaining``, as a finite float (the core checks its range).

    Raises
    ------
    InvalidArgumentError
        Naming ``key``, when the schedule raises or returns something other than a finite real number.
    """
    try:
        value = schedule(progress_remaining)
    except Exception as error:
        raise InvalidArgumentError(f"the {key} schedule raised {type(error).__name__} at progress_remaining="
                                   f"{progress_remaining}: {error}") from error
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, (bool, str, complex)) or not math.isfinite(number):
        raise InvalidArgumentError(f"the {key} schedule returned {value!r} at progress_remaining={progress_remaining}; "
                                   "expected a finite number")
    return number


def _is_minus_one(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and value == -1


def _put(mapped: Mapped, key: str, value: Any, source: str) -> None:
    if key in mapped.config:
        raise InvalidArgumentError(f"{source} and {key} both set {key}; pass one of them")
    mapped.config[key] = value
    mapped.sources[key] = source


def _map_ent_coef(mapped: Mapped, value: Any) -> None:
    """``ent_coef``: a number fixes α; ``"auto"`` tunes it from the core's initial α; ``"auto_x"``
    tunes it from ``x`` (Stable-Baselines3's forms)."""
    if isinstance(value, str) and value.startswith("auto"):
        _put(mapped, "alpha", "auto", "ent_coef")
        if value != "auto":
            text = value[len("auto"):]
            try:
                if not text.startswith("_"):
                    raise ValueError
                initial = float(text[1:])
            except ValueError:
                raise InvalidArgumentError(f"ent_coef {value!r}: expected a number, 'auto' or 'auto_<initial value>'") from None
            _put(mapped, "initial_alpha", initial, "ent_coef")
    else:
        _put(mapped, "alpha", value, "ent_coef")


def checked_python_settings(saved: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The Python-side loop settings (:attr:`Mapped.python`) read back from a checkpoint, checked.

    Raises
    ------
    InvalidArgumentError
        Naming the field.
    """
    settings: dict[str, Any] = {}
    unit = saved.get("train_freq_unit")
    if unit is not None:
        if unit not in TRAIN_FREQ_UNITS:
            raise InvalidArgumentError(f"{prefix}train_freq_unit must be 'step' or 'episode', got {unit!r}")
        settings["train_freq_unit"] = unit
    steps = saved.get("gradient_steps")
    if steps is not None:
        if not _is_minus_one(steps):
            raise InvalidArgumentError(f"{prefix}gradient_steps must be -1 when set, got {steps!r}")
        settings["gradient_steps"] = -1
    window = saved.get("stats_window_size")
    if window is not None:
        settings["stats_window_size"] = _checks.integer(window, f"{prefix}stats_window_size", 1, 2**31 - 1)
    return settings


def explain_error(message: str, sources: dict[str, str]) -> str:
    """The core's error message, with the Stable-Baselines3 argument a mentioned key came from."""
    for key, source in sources.items():
        if f"'{key}'" in message:
            return f"{message} (set from Stable-Baselines3's {source})"
    return message

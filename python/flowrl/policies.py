"""Stable-Baselines3's policy objects: ``model.policy`` and the policy-only file.

``agent.policy`` is a light view of an agent's acting policy: :meth:`~BasePolicy.predict` with
Stable-Baselines3's signature and :meth:`~BasePolicy.save`, which writes a **policy file**: the
agent's configuration, its spaces, the parameters of the network it acts with and its random
state, without the critic, the temperature, the optimiser moments or the replay buffer. A policy
file is read back by the policy name the algorithms take as their first argument:
``flowrl.policies.MlpPolicy.load(path)`` reads any, ``FlowPolicy.load`` one of a flow algorithm,
``FlowG`` / ``FlowT`` / ``FlowMlp.load`` one of :class:`~flowrl.SACFlow` with that velocity field.
The loaded policy acts exactly as the agent did when it was saved (deterministically, and
stochastically from the same random state or after the same :meth:`~BasePolicy.seed`).

The file is a checkpoint (docs/architecture.md, "Checkpoints": magic, version, CRC-32), with
``"kind": "flowrl-policy"`` in its metadata; it is written atomically. Loading checks every field
and rebuilds an agent of the recorded algorithm and configuration in the core, which checks them
again: a corrupted or truncated file, an agent checkpoint, another algorithm than the name
accepts, or a non-finite parameter raises :class:`~flowrl.errors.CheckpointError` (the wrong
algorithm :class:`~flowrl.errors.InvalidArgumentError`) and creates nothing.

>>> import gymnasium as gym, flowrl
>>> agent = flowrl.SAC("MlpPolicy", gym.make("Pendulum-v1"), seed=0)
>>> agent.policy.save("sac_policy.flowrl")
>>> policy = flowrl.policies.MlpPolicy.load("sac_policy.flowrl")
>>> action, _ = policy.predict(policy.observation_space.sample(), deterministic=True)
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from typing import Any, Optional, TypeVar

import numpy as np
from gymnasium import spaces

from . import _checkpoint, _checks, _sb3, _schema
from .core import CoreAgent, PathLike, flat_observation_size, recorded_spaces, registered_class
from .errors import CheckpointError, InvalidArgumentError, InvalidStateError

#: The layout version of a policy file's metadata (``metadata["version"]``).
POLICY_FILE_VERSION = 1

_Policy = TypeVar("_Policy", bound="BasePolicy")


class BasePolicy:
    """An agent's acting policy, as Stable-Baselines3's ``model.policy``.

    Not instantiated directly: ``agent.policy`` gives a view of an agent (:class:`MlpPolicy`),
    and the classes named after the algorithms' policy names load policy files.

    Parameters
    ----------
    agent : flowrl.core.CoreAgent
        The agent whose policy this is (a view: it acts with the agent's current parameters).
    """

    def __init__(self, agent: CoreAgent) -> None:
        if not isinstance(agent, CoreAgent):
            raise InvalidArgumentError(f"a policy wraps a flowrl agent, got {type(agent).__name__}")
        self._agent = agent

    # ------------------------------------------------------------------ what it is

    @property
    def algorithm(self) -> str:
        """The core's name of the algorithm that trained the policy (``"sac"``, ``"swfp"``, ...)."""
        return self._agent.algorithm

    @property
    def observation_space(self) -> spaces.Space:
        """The observation space the policy takes (a ``Box``, or the ``Dict`` / ``Tuple`` space it flattens)."""
        return self._agent.observation_space

    @property
    def action_space(self) -> spaces.Box:
        """The action space of its actions."""
        return self._agent.action_space

    @property
    def config(self) -> dict[str, Any]:
        """The agent's full configuration (the policy's network settings among it)."""
        return self._agent.config

    @classmethod
    def accepts(cls, algorithm_class: type[CoreAgent], config: dict[str, Any]) -> bool:
        """True if this policy name is one the algorithm takes, for this configuration.

        :class:`MlpPolicy` is every algorithm's own policy; another name must be one of the
        algorithm class's ``policy_aliases`` and the configuration must have the settings it
        selects (``FlowG``: ``velocity="gated"``).
        """
        if cls.__name__ == _sb3.MLP_POLICY:
            return True
        aliases: dict[str, dict[str, Any]] = getattr(algorithm_class, "policy_aliases", {})
        settings = aliases.get(cls.__name__)
        return settings is not None and all(config.get(key) == value for key, value in settings.items())

    # ------------------------------------------------------------------ acting

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None,
                deterministic: bool = False) -> tuple[np.ndarray, None]:
        """Stable-Baselines3's ``policy.predict``: actions for one observation or a batch.

        Parameters
        ----------
        observation : array_like or dict
            ``observation_space.shape`` (one observation) or ``(n, *observation_space.shape)``;
            with a ``Dict`` / ``Tuple`` observation space a dict (tuple) of arrays, single or
            batched, as Stable-Baselines3's ``MultiInputPolicy`` takes them.
        state, episode_start
            Ignored (no recurrent state); accepted for Stable-Baselines3's signature.
        deterministic : bool
            Start the flow from zero noise (the Gaussian's mean for SAC) instead of sampling.

        Returns
        -------
        actions : numpy.ndarray
            ``(action_size,)`` or ``(n, action_size)``, in the environment's units, within the bounds.
        state : None
        """
        return self._agent.predict(observation, state, episode_start, deterministic=deterministic)

    def seed(self, seed: int) -> None:
        """Reseeds the random generator the stochastic actions are drawn from (for ``agent.policy``
        it is the agent's core generator, shared with its updates).

        Parameters
        ----------
        seed : int
            In ``[0, 2**64)``.
        """
        CoreAgent.seed(self._agent, seed)

    # ------------------------------------------------------------------ the policy file

    def to_bytes(self) -> bytes:
        """The policy file's contents (what :meth:`save` writes).

        Raises
        ------
        InvalidStateError
            If the agent is closed, or holds no network this module knows to act with.
        """
        checkpoint = _checkpoint.parse(self._agent.to_bytes(include_replay_buffer=False))
        config = json.loads(checkpoint.config_json)
        tensors = {name: array for name, array in checkpoint.tensors.items() if _checkpoint.is_acting(name, config)}
        if not tensors:
            raise InvalidStateError(f"the '{checkpoint.algorithm}' agent has no acting network this package knows "
                                    "(flowrl._checkpoint.is_acting)")
        metadata = {"kind": _checkpoint.POLICY_FILE_KIND, "version": POLICY_FILE_VERSION,
                    **CoreAgent._metadata(self._agent)}
        policy = _checkpoint.Checkpoint(
            checkpoint.algorithm, checkpoint.observation_size, checkpoint.action_size, checkpoint.config_json,
            json.dumps(metadata), {name: value for name, value in checkpoint.integers.items()
                                   if _checkpoint.is_random_state(name)}, tensors)
        return _checkpoint.build(policy)

    def save(self, path: PathLike) -> None:
        """Writes the policy file: configuration, spaces, the acting network's parameters and the
        random state (no critic, optimiser state or replay buffer).

        The file is ``path`` as given, replaced atomically (written to a temporary file beside it,
        flushed, then renamed over it): an interrupted save leaves an existing file intact. A
        symbolic link is followed; an existing file keeps its permissions.

        Parameters
        ----------
        path : str, bytes or os.PathLike

        Raises
        ------
        CheckpointError
            If ``path`` is a directory or another non-regular file, or cannot be written.
        InvalidArgumentError
            For an empty path, one with a NUL byte, or one that is not a path.
        """
        _write_atomically(_checks.path(path), self.to_bytes())

    @classmethod
    def load(cls: type[_Policy], path: PathLike, device: Any = "auto") -> _Policy:
        """Reads a policy file written by :meth:`save` (``policy.save`` or ``agent.policy.save``).

        Parameters
        ----------
        path : str, bytes or os.PathLike
        device : str
            ``"cpu"`` or ``"auto"`` (Stable-Baselines3's argument; flowrl computes on the CPU).

        Returns
        -------
        BasePolicy
            An instance of this class, acting as the saved policy did.

        Raises
        ------
        CheckpointError
            If the file is missing, unreadable, truncated or corrupted, is not a policy file (an
            agent checkpoint: load it with the algorithm's ``load``), or holds invalid contents:
            spaces, configuration, a missing, extra, misshapen or non-finite parameter.
        InvalidArgumentError
            If the file's algorithm does not take this policy name (``FlowG.load`` of a SAC policy).
        """
        _sb3.check_device(device)
        encoded = _checks.path(path)
        try:
            with open(encoded, "rb") as file:
                data = file.read()
        except OSError as error:
            raise CheckpointError(f"cannot read the policy file {os.fsdecode(encoded)!r}: {error.strerror}") from None
        return cls.from_bytes(data)

    @classmethod
    def from_bytes(cls: type[_Policy], data: bytes) -> _Policy:
        """A policy from :meth:`to_bytes` output or a policy file's contents (see :meth:`load`)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidArgumentError(f"data must be bytes, got {type(data).__name__}")
        stored = _checkpoint.parse(bytes(data))
        metadata = _json_object(stored.metadata_json, "metadata")
        if metadata.get("kind") != _checkpoint.POLICY_FILE_KIND:
            raise CheckpointError(f"not a policy file but a '{stored.algorithm}' agent checkpoint: load it with the "
                                  f"algorithm's load (such as flowrl.SAC.load); its policy is agent.policy")
        if metadata.get("version") != POLICY_FILE_VERSION:
            raise CheckpointError(f"policy file version {metadata.get('version')!r}; this package reads version "
                                  f"{POLICY_FILE_VERSION}")
        algorithm_class = registered_class(stored.algorithm)
        if algorithm_class is None:
            raise CheckpointError(f"the policy file holds an unknown algorithm {stored.algorithm!r}")
        config = _json_object(stored.config_json, "configuration")
        if not cls.accepts(algorithm_class, config):
            names = [name for name, policy_class in POLICY_CLASSES.items() if policy_class.accepts(algorithm_class, config)]
            raise InvalidArgumentError(f"the policy file holds a '{stored.algorithm}' policy"
                                       f"{_variant(algorithm_class, config)}, which {cls.__name__} does not name; "
                                       f"load it with {' or '.join(f'flowrl.policies.{name}.load' for name in names)}")
        try:
            observation_space, action_space = recorded_spaces(metadata)
            CoreAgent._spaces(None, observation_space, action_space)
        except (KeyError, TypeError, ValueError, InvalidArgumentError) as error:
            raise CheckpointError(f"the policy file's recorded spaces are invalid: {error}") from None
        if (flat_observation_size(observation_space), action_space.shape[0]) != (stored.observation_size, stored.action_size):
            raise CheckpointError("the policy file's recorded spaces do not match its sizes")
        try:
            # The file's configuration as a checkpoint's is read (keys added since at their legacy
            # values, not today's defaults), so the agent's shapes are those the file was written with.
            agent = algorithm_class(observation_space=observation_space, action_space=action_space,
                                    **_schema.schema(stored.algorithm).stored_meaning(config))
        except (InvalidArgumentError, TypeError) as error:
            raise CheckpointError(f"the policy file's configuration is invalid: {error}") from None
        try:
            agent._replace_core(_checkpoint.build(_with_acting_state(agent, stored)))
        except BaseException:
            agent.close()
            raise
        return cls(agent)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(algorithm={self.algorithm!r})"


def _json_object(text: str, what: str) -> dict[str, Any]:
    """A policy file's JSON field, which must be an object."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply for Python's decoder
        raise CheckpointError(f"the policy file's {what} is not valid JSON") from None
    if not isinstance(value, dict):
        raise CheckpointError(f"the policy file's {what} is not a JSON object")
    return value


def _variant(algorithm_class: type[CoreAgent], config: dict[str, Any]) -> str:
    """`` (velocity='gated')``: the settings of the file's configuration that policy names select."""
    keys = sorted({key for settings in getattr(algorithm_class, "policy_aliases", {}).values() for key in settings})
    shown = ", ".join(f"{key}={config.get(key)!r}" for key in keys)
    return f" ({shown})" if shown else ""


def _with_acting_state(agent: CoreAgent, stored: _checkpoint.Checkpoint) -> _checkpoint.Checkpoint:
    """``agent``'s checkpoint with its acting parameters and random state replaced by the policy
    file's, each checked first: the same names, shapes and finite values."""
    checkpoint = _checkpoint.parse(agent.to_bytes(include_replay_buffer=False))
    config = json.loads(checkpoint.config_json)
    expected = {name for name in checkpoint.tensors if _checkpoint.is_acting(name, config)}
    _same_names(expected, set(stored.tensors), "parameters")
    for name in sorted(expected):
        array = stored.tensors[name]
        if array.shape != checkpoint.tensors[name].shape:
            raise CheckpointError(f"the policy file's parameter {name!r} has shape {array.shape}, the configuration "
                                  f"gives {checkpoint.tensors[name].shape}")
        if not np.isfinite(array).all():
            raise CheckpointError(f"the policy file's parameter {name!r} holds NaN or Inf")
        checkpoint.tensors[name] = array
    _same_names({name for name in checkpoint.integers if _checkpoint.is_random_state(name)}, set(stored.integers),
                "random-state entries")
    checkpoint.integers.update(stored.integers)
    return checkpoint


def _same_names(expected: set[str], found: set[str], what: str) -> None:
    if found != expected:
        missing, extra = sorted(expected - found), sorted(found - expected)
        raise CheckpointError(f"the policy file's {what} do not match its configuration: "
                              f"missing {missing[:5]}, unexpected {extra[:5]}")


def _write_atomically(path: bytes, data: bytes) -> None:
    """Writes ``data`` to ``path`` through a temporary file in the same folder, flushed to disk and
    renamed over it; the folder is flushed after the rename.

    Raises
    ------
    CheckpointError
        For a directory or another non-regular target, or any failure to write (nothing changes).
    """
    target = os.path.realpath(path)
    shown = os.fsdecode(path)
    try:
        existing: Optional[os.stat_result] = os.stat(target)
    except FileNotFoundError:
        existing = None
    except OSError as error:
        raise CheckpointError(f"cannot write the policy file {shown!r}: {error.strerror}") from None
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        raise CheckpointError(f"cannot write the policy file {shown!r}: not a regular file")
    folder = os.path.dirname(target) or b"."
    temporary: Optional[bytes] = None
    try:
        descriptor, temporary = tempfile.mkstemp(prefix=b".flowrl-policy-", suffix=b".tmp", dir=folder)
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        if existing is not None:
            os.chmod(temporary, stat.S_IMODE(existing.st_mode))
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, target)
        temporary = None
        directory = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except OSError as error:
        raise CheckpointError(f"cannot write the policy file {shown!r}: {error.strerror or error}") from None
    finally:
        if temporary is not None:
            try:
                os.unlink(temporary)
            except OSError:
                pass


class MlpPolicy(BasePolicy):
    """Every algorithm's own policy (Stable-Baselines3's ``"MlpPolicy"``): loads a policy file of
    any algorithm."""


class FlowPolicy(BasePolicy):
    """The flow policy of :class:`~flowrl.SWFP`, :class:`~flowrl.SACFlow`, :class:`~flowrl.RLDT`
    and :class:`~flowrl.FlowBC` (their ``"FlowPolicy"``): loads a policy file of one of them."""


class FlowG(BasePolicy):
    """:class:`~flowrl.SACFlow`'s Flow-G (``velocity="gated"``): loads a policy file of that agent."""


class FlowT(BasePolicy):
    """:class:`~flowrl.SACFlow`'s Flow-T (``velocity="decoder"``): loads a policy file of that agent."""


class FlowMlp(BasePolicy):
    """:class:`~flowrl.SACFlow` with the plain MLP velocity field (``velocity="mlp"``): loads a
    policy file of that agent."""


#: The policy classes by name, as the algorithms' first argument takes them.
POLICY_CLASSES: dict[str, type[BasePolicy]] = {policy.__name__: policy for policy in (MlpPolicy, FlowPolicy, FlowG, FlowT, FlowMlp)}

"""The base class of every flowrl algorithm, and :class:`FlowBC`.

:class:`Agent` puts together the two layers an algorithm shares: the step-level calls into the
Swift core (:class:`flowrl.core.CoreAgent`: act, predict, observe, update, pretrain, save, load,
pickling) and Stable-Baselines3's training loop on top of them
(:class:`flowrl.learning.OffPolicyLearning`: learn, evaluate, the env, logging, callbacks). It
adds only the constructor. An algorithm's Python class names its algorithm and describes it; its
hyperparameters, their defaults and its docstring's ``Parameters`` come from the core's schema
(:mod:`flowrl._schema`).
"""

from __future__ import annotations

import inspect
from typing import Any, Optional

from gymnasium import spaces

from . import _checks, _schema
from .core import PathLike
from .learning import OffPolicyLearning

#: The constructor's parameters before the algorithm's keys (numpydoc entries).
_SPACE_PARAMETERS = """\
env : gymnasium.Env, optional
    Supplies ``observation_space`` and ``action_space`` (both ``Box``); a vector env's single
    spaces are used.
observation_space, action_space : gymnasium.spaces.Box, optional
    Instead of ``env``."""

#: The constructor's parameters after the algorithm's keys: Python only (not sent to the core; kept in checkpoints).
_PYTHON_PARAMETERS = """\
verbose : int, default 0
    ``>= 1`` prints Stable-Baselines3's table of training values while learning. Python only
    (not sent to the core); kept in checkpoints.
log_dir : str or os.PathLike, optional
    If given, :meth:`learn` writes ``log_dir/progress.csv`` with the same rows. Python only;
    kept in checkpoints."""

#: The default of a keyword Python reads itself (the seed): the core's, looked up in the schema.
_CORE_DEFAULT: Any = object()

_P = inspect.Parameter
_SPACE_SIGNATURE = [_P("env", _P.POSITIONAL_OR_KEYWORD, default=None),
                    _P("observation_space", _P.KEYWORD_ONLY, default=None), _P("action_space", _P.KEYWORD_ONLY, default=None)]
_PYTHON_SIGNATURE = [_P("verbose", _P.KEYWORD_ONLY, default=0), _P("log_dir", _P.KEYWORD_ONLY, default=None)]


class Agent(OffPolicyLearning):
    """A flowrl agent: a policy, its training state and a replay buffer, living in the Swift core.

    Not instantiated itself: each algorithm class (a subclass naming its :attr:`algorithm`) is,
    and its docstring lists every parameter with the core's default, range and description.

    Attributes
    ----------
    env : gymnasium.Env or gymnasium.vector.VectorEnv or None
        The env :meth:`learn` steps (see :meth:`set_env`).
    num_timesteps : int
        Real transitions collected by :meth:`learn` (reset by ``reset_num_timesteps=True``).
    ep_info_buffer : collections.deque
        The last 100 finished episodes as ``{"r": return, "l": length, "t": seconds}``.

    Notes
    -----
    Actions cross this API in the environment's units (within the ``Box`` bounds); inside the
    core they live in ``[-1, 1]``. Every method raises a :class:`~flowrl.errors.FlowRLError`
    subclass on bad input and leaves the agent unchanged. An unknown keyword raises
    :class:`~flowrl.errors.InvalidArgumentError` naming it and listing the valid ones.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Registers the class (:class:`~flowrl.core.CoreAgent`) and, when it names its algorithm,
        writes its docstring's ``Parameters`` and its signature from the core's schema."""
        super().__init_subclass__(**kwargs)
        if "algorithm" in vars(cls) and cls.algorithm:
            schema = _schema.schema(cls.algorithm)
            sections = inspect.cleandoc(Agent.__doc__ or "")
            sections = sections[sections.find("Attributes\n"):] if "Attributes\n" in sections else ""
            cls.__doc__ = _schema.class_docstring(schema, cls.__doc__, _SPACE_PARAMETERS, _PYTHON_PARAMETERS, sections)
            cls.__signature__ = _schema.signature(schema, _SPACE_SIGNATURE, _PYTHON_SIGNATURE)  # type: ignore[attr-defined]

    def __init__(self, env: Any = None, *, observation_space: Optional[spaces.Space] = None,
                 action_space: Optional[spaces.Space] = None, seed: int = _CORE_DEFAULT, verbose: int = 0,
                 log_dir: Optional[PathLike] = None, **hyperparameters: Any) -> None:
        if not self.algorithm:
            raise TypeError("Agent is abstract; use an algorithm class such as flowrl.FlowBC")
        observation_space, action_space = self._spaces(env, observation_space, action_space)
        seed_key = _schema.schema(self.algorithm).key("seed")
        seed = _checks.integer(seed_key.default if seed is _CORE_DEFAULT else seed, "seed", seed_key.minimum, seed_key.maximum)
        training = self._checked_settings(verbose, log_dir)
        config = self._checked_config(hyperparameters, seed)
        self._set_spaces(observation_space, action_space)
        self._init_training_state(seed, training)
        self.env: Any = env
        self._create(config)


class FlowBC(Agent):
    """:meth:`pretrain` fits the policy to demonstrations by flow matching; :meth:`update` does
    the same on the ``(observation, action)`` pairs in the replay buffer, so it imitates whatever
    produced the stored transitions (rewards are ignored). Its configuration has no schedule keys:
    :meth:`~Agent.learn` uses the core's defaults for them.
    """

    algorithm = "flow_bc"

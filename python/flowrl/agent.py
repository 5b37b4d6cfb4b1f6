"""The base class of every flowrl algorithm, and :class:`FlowBC`.

:class:`Agent` puts together the two layers an algorithm shares: the step-level calls into the
Swift core (:class:`flowrl.core.CoreAgent`: act, predict, observe, update, pretrain, save, load,
pickling) and Stable-Baselines3's training loop on top of them
(:class:`flowrl.learning.OffPolicyLearning`: learn, evaluate, the env, logging, callbacks). It
adds the constructor and Stable-Baselines3's ``policy`` (:mod:`flowrl.policies`). An algorithm's Python class names its algorithm and describes it; its
hyperparameters, their defaults and its docstring's ``Parameters`` come from the core's schema
(:mod:`flowrl._schema`).
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar, Optional

import numpy as np
from gymnasium import spaces

from . import _checks, _sb3, _schema, _spaces
from .core import PathLike
from .errors import InvalidArgumentError
from .learning import OffPolicyLearning
from .policies import MlpPolicy

#: The constructor's parameters before the algorithm's keys (numpydoc entries).
_SPACE_PARAMETERS = """\
policy : str, optional
    Stable-Baselines3's first argument: ``"MlpPolicy"`` (the algorithm's own policy) or one of
    the class's :attr:`policy_aliases`; ``"MultiInputPolicy"`` (the same policy) for a ``Dict``
    or ``Tuple`` observation space. May be left out: ``SAC(env)`` is ``SAC("MlpPolicy", env)``.
env : gymnasium.Env, gymnasium vector env, Stable-Baselines3 VecEnv or str, optional
    Supplies ``observation_space`` and ``action_space``; a vector env's single spaces are used.
    A string is an environment id for ``gymnasium.make``.
observation_space : gymnasium.spaces.Box, Dict or Tuple, optional
    Instead of ``env``. A ``Dict`` or ``Tuple`` space (nested, of ``Box``, ``Discrete`` and
    ``MultiBinary`` spaces) is flattened as gymnasium's ``spaces.flatten_space`` does it; the
    agent then takes dicts (tuples) of arrays, and its checkpoints record the space.
action_space : gymnasium.spaces.Box, optional
    Instead of ``env``: one-dimensional, with finite bounds."""

#: The constructor's parameters after the algorithm's keys: Python only (not sent to the core; kept in checkpoints).
_PYTHON_PARAMETERS = """\
verbose : int, default 0
    ``>= 1`` prints Stable-Baselines3's table of training values while learning. Python only
    (not sent to the core); kept in checkpoints.
log_dir : str or os.PathLike, optional
    If given, :meth:`learn` writes ``log_dir/progress.csv`` with the same rows. Python only;
    kept in checkpoints.
tensorboard_log : str or os.PathLike, optional
    Stable-Baselines3's TensorBoard folder: each :meth:`learn` writes its rows as TensorBoard
    scalars to ``tensorboard_log/{tb_log_name}_{run}`` (needs ``pip install tensorboard``, the
    ``tensorboard`` extra). Python only; kept in checkpoints.
policy_kwargs : dict, optional
    Stable-Baselines3's network settings: ``net_arch=[64, 64]`` sets ``hidden_sizes`` (and
    ``critic_hidden_sizes``), ``net_arch=dict(pi=[...], qf=[...])`` each apart,
    ``activation_fn`` (by its name, such as ``torch.nn.ReLU``) the ``activation`` where the
    algorithm has one.
action_noise : flowrl.noise.ActionNoise, optional
    Noise added to the policy's actions in :meth:`learn` (in ``[-1, 1]`` units, clipped), reset
    at the end of each episode. Not kept in checkpoints.
device : str, default 'auto'
    ``"cpu"`` or ``"auto"``: flowrl computes on the CPU; any other device is refused.
**sb3_names
    Stable-Baselines3's names are accepted where flowrl's differ: ``tau`` (``critic_tau``, the
    Polyak rate, for every algorithm with a critic; SWFP's JKO step is ``jko_step``),
    ``ent_coef`` (``alpha``; ``"auto_0.1"`` tunes α from 0.1), ``train_freq=(n, "episode")``,
    ``gradient_steps=-1`` (as many gradient steps as transitions collected),
    ``stats_window_size`` (episodes in ``rollout/ep_rew_mean``); ``replay_buffer_class``,
    ``replay_buffer_kwargs``, ``optimize_memory_usage``, ``use_sde``, ``sde_sample_freq`` and
    ``use_sde_at_warmup`` only at their unused values. ``learning_rate`` (and
    ``critic_learning_rate``) may be a schedule: a callable of the progress remaining, evaluated
    before each update of :meth:`learn`; checkpoints keep the value in use, not the callable."""

#: The default of a keyword Python reads itself (the seed): the core's, looked up in the schema.
_CORE_DEFAULT: Any = object()

_P = inspect.Parameter
_SPACE_SIGNATURE = [_P("policy", _P.POSITIONAL_OR_KEYWORD, default=None), _P("env", _P.POSITIONAL_OR_KEYWORD, default=None),
                    _P("observation_space", _P.KEYWORD_ONLY, default=None), _P("action_space", _P.KEYWORD_ONLY, default=None)]
_PYTHON_SIGNATURE = [_P("verbose", _P.KEYWORD_ONLY, default=0), _P("log_dir", _P.KEYWORD_ONLY, default=None),
                     _P("tensorboard_log", _P.KEYWORD_ONLY, default=None), _P("policy_kwargs", _P.KEYWORD_ONLY, default=None),
                     _P("action_noise", _P.KEYWORD_ONLY, default=None), _P("device", _P.KEYWORD_ONLY, default="auto"),
                     _P("sb3_names", _P.VAR_KEYWORD)]


def _random_seed() -> int:
    """A seed from the operating system's entropy (``seed=None``, as Stable-Baselines3 leaves it unseeded)."""
    return int(np.random.SeedSequence().generate_state(1, np.uint64)[0])


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

    #: Policy names the class takes besides ``"MlpPolicy"``, and the configuration each selects.
    policy_aliases: ClassVar[dict[str, dict[str, Any]]] = {}

    def __init__(self, policy: Any = None, env: Any = None, *, observation_space: Optional[spaces.Space] = None,
                 action_space: Optional[spaces.Space] = None, seed: Any = _CORE_DEFAULT, verbose: int = 0,
                 log_dir: Optional[PathLike] = None, tensorboard_log: Optional[PathLike] = None,
                 policy_kwargs: Optional[dict[str, Any]] = None, action_noise: Any = None, device: Any = "auto",
                 **hyperparameters: Any) -> None:
        if not self.algorithm:
            raise TypeError("Agent is abstract; use an algorithm class such as flowrl.FlowBC")
        schema = _schema.schema(self.algorithm)
        policy, env = self._policy_and_env(policy, env)
        _sb3.check_device(device)
        env = _sb3.make_env(env)
        observation_space, action_space = self._spaces(env, observation_space, action_space)
        seed_key = schema.key("seed")
        if seed is None:
            seed = _random_seed()
        seed = _checks.integer(seed_key.default if seed is _CORE_DEFAULT else seed, "seed", seed_key.minimum, seed_key.maximum)
        mapped = _sb3.map_hyperparameters({**hyperparameters, "action_noise": action_noise}, schema)
        structured = _spaces.is_structured(observation_space)
        for key, value in [*_sb3.policy_settings(policy, self.policy_aliases, structured).items(),
                           *_sb3.map_policy_kwargs(policy_kwargs, schema).items()]:
            if key in mapped.config and mapped.config[key] != value:
                raise InvalidArgumentError(f"{key} is set twice (by the policy or policy_kwargs and by the keyword); pass it once")
            mapped.config[key] = value
        training = {**self._checked_settings(verbose, log_dir, tensorboard_log), **mapped.python}
        config = self._checked_config(mapped.config, seed)
        self._set_spaces(observation_space, action_space)
        self._init_training_state(seed, training)
        self.env: Any = env
        self.action_noise = mapped.action_noise
        self._schedules = dict(mapped.schedules)
        try:
            self._create(config)
        except InvalidArgumentError as error:
            raise InvalidArgumentError(_sb3.explain_error(str(error), mapped.sources)) from None

    @property
    def policy(self) -> MlpPolicy:
        """Stable-Baselines3's ``model.policy``: a view of this agent's acting policy, with
        ``predict`` (the agent's) and ``save(path)``, which writes a policy-only file that
        ``flowrl.policies.MlpPolicy.load(path)`` reads back (:mod:`flowrl.policies`)."""
        return MlpPolicy(self)

    @classmethod
    def _policy_and_env(cls, policy: Any, env: Any) -> tuple[Any, Any]:
        """Stable-Baselines3's ``(policy, env)`` or flowrl's ``(env)``: a first argument that is not
        a policy name is the env (an env object, or an environment id when no env follows)."""
        if policy is None:
            return _sb3.MLP_POLICY, env
        if isinstance(policy, str):
            known = policy == _sb3.MLP_POLICY or policy in cls.policy_aliases or policy in _sb3.UNSUPPORTED_POLICIES
            if not known and env is None and _sb3.is_env_id(policy):
                return _sb3.MLP_POLICY, policy
            return policy, env
        if env is None and not isinstance(policy, type):
            return _sb3.MLP_POLICY, policy  # SAC(env): the env given first
        return policy, env  # a policy class: refused by name in _sb3.policy_settings


class FlowBC(Agent):
    """:meth:`pretrain` fits the policy to demonstrations by flow matching; :meth:`update` does
    the same on the ``(observation, action)`` pairs in the replay buffer, so it imitates whatever
    produced the stored transitions (rewards are ignored). Its configuration has no schedule keys:
    :meth:`~Agent.learn` uses the core's defaults for them.
    """

    algorithm = "flow_bc"

    #: Policy names for Stable-Baselines3's first argument besides "MlpPolicy" (the same policy).
    policy_aliases = {"FlowPolicy": {}}

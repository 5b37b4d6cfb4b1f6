"""The base class of every flowrl algorithm, and :class:`FlowBC`.

:class:`Agent` puts together the two layers an algorithm shares: the step-level calls into the
Swift core (:class:`flowrl.core.CoreAgent`: act, predict, observe, update, pretrain, save, load,
pickling) and Stable-Baselines3's training loop on top of them
(:class:`flowrl.learning.OffPolicyLearning`: learn, evaluate, the env, logging, callbacks). It
adds only the constructor. An algorithm's Python class names its algorithm and documents its
hyperparameters; nothing else.
"""

from __future__ import annotations

from typing import Any, Optional

from gymnasium import spaces

from . import _checks
from .core import PathLike
from .learning import OffPolicyLearning


class Agent(OffPolicyLearning):
    """A flowrl agent: a policy, its training state and a replay buffer, living in the Swift core.

    Parameters
    ----------
    env : gymnasium.Env, optional
        Supplies ``observation_space`` and ``action_space`` (both ``Box``); a vector env's
        single spaces are used.
    observation_space, action_space : gymnasium.spaces.Box, optional
        Instead of ``env``.
    seed : int
        Seeds every random choice the agent makes (initial weights, noise, minibatches, the
        random actions of :meth:`learn` before ``learning_starts``).
    verbose : int
        ``>= 1`` prints Stable-Baselines3's table of training values while learning. Python only
        (not sent to the core); kept in checkpoints.
    log_dir : str or os.PathLike, optional
        If given, :meth:`learn` writes ``log_dir/progress.csv`` with the same rows. Python only;
        kept in checkpoints.
    **hyperparameters
        The algorithm's settings; see the subclass. An unknown name raises
        :class:`~flowrl.errors.InvalidArgumentError` listing the valid ones.

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
    subclass on bad input and leaves the agent unchanged.
    """

    def __init__(self, env: Any = None, *, observation_space: Optional[spaces.Space] = None,
                 action_space: Optional[spaces.Space] = None, seed: int = 0, verbose: int = 0,
                 log_dir: Optional[PathLike] = None, **hyperparameters: Any) -> None:
        if not self.algorithm:
            raise TypeError("Agent is abstract; use an algorithm class such as flowrl.FlowBC")
        observation_space, action_space = self._spaces(env, observation_space, action_space)
        seed = _checks.integer(seed, "seed", 0, 2**64 - 1)
        training = self._checked_settings(verbose, log_dir)
        config = self._checked_config(hyperparameters, seed)
        self._set_spaces(observation_space, action_space)
        self._init_training_state(seed, training)
        self.env: Any = env
        self._create(config)


class FlowBC(Agent):
    """Behaviour cloning with a flow policy.

    :meth:`pretrain` fits the policy to demonstrations by flow matching; :meth:`update` does
    the same on the ``(observation, action)`` pairs in the replay buffer, so it imitates whatever
    produced the stored transitions (rewards are ignored).

    Hyperparameters (keyword arguments; defaults in brackets): ``hidden_sizes`` [256, 256],
    ``activation`` ["silu"], ``flow_steps`` [10], ``time_embedding_size`` [16],
    ``learning_rate`` [3e-4], ``batch_size`` [256], ``buffer_size`` [1_000_000].

    Its config has no training-schedule keys, so :meth:`~Agent.learn` uses the defaults
    ``learning_starts=100``, ``train_freq=1``, ``gradient_steps=1``.
    """

    algorithm = "flow_bc"

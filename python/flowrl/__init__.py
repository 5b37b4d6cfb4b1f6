"""flowrl: online reinforcement learning with flow-matching policies, on a Swift core.

>>> import gymnasium as gym, flowrl
>>> env = gym.make("Pendulum-v1")
>>> agent = flowrl.FlowBC(env, seed=0)
>>> action = agent.act(env.reset(seed=0)[0], deterministic=True)
>>> agent = agent.learn(total_timesteps=200)
>>> action, _ = agent.predict(env.reset(seed=1)[0], deterministic=True)
"""

from . import callbacks, datasets, evaluation, experiments, logger, noise, policies
from ._lib import ABI_VERSION, info, library_path, set_blas_threads, set_threads, version
from .agent import Agent, FlowBC
from .callbacks import (
    BaseCallback,
    CallbackList,
    CheckpointCallback,
    EvalCallback,
    EveryNTimesteps,
    StopTrainingOnMaxEpisodes,
    StopTrainingOnNoModelImprovement,
    StopTrainingOnRewardThreshold,
)
from .errors import (
    CheckpointError,
    FlowRLError,
    InternalError,
    InvalidArgumentError,
    InvalidStateError,
    NumericalError,
)
from .evaluation import evaluate_policy
from .noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise
from .plotting import plot_learning_curve
from .rldt import RLDT
from .sac import SAC
from .sac_flow import SACFlow
from .swfp import SWFP

__version__ = "0.1.0"

__all__ = [
    "ABI_VERSION",
    "Agent",
    "BaseCallback",
    "CallbackList",
    "CheckpointCallback",
    "CheckpointError",
    "EvalCallback",
    "EveryNTimesteps",
    "FlowBC",
    "FlowRLError",
    "InternalError",
    "InvalidArgumentError",
    "InvalidStateError",
    "NormalActionNoise",
    "NumericalError",
    "OrnsteinUhlenbeckActionNoise",
    "RLDT",
    "SAC",
    "SACFlow",
    "SWFP",
    "StopTrainingOnMaxEpisodes",
    "StopTrainingOnNoModelImprovement",
    "StopTrainingOnRewardThreshold",
    "callbacks",
    "datasets",
    "evaluate_policy",
    "evaluation",
    "experiments",
    "library_path",
    "logger",
    "noise",
    "info",
    "plot_learning_curve",
    "policies",
    "set_blas_threads",
    "set_threads",
    "version",
]

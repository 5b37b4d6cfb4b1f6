"""flowrl: online reinforcement learning with flow-matching policies, on a Swift core.

>>> import gymnasium as gym, flowrl
>>> env = gym.make("Pendulum-v1")
>>> agent = flowrl.FlowBC(env, seed=0)
>>> action = agent.act(env.reset(seed=0)[0], deterministic=True)
"""

from ._lib import ABI_VERSION, library_path, set_blas_threads, version
from .agent import Agent, FlowBC
from .errors import (
    CheckpointError,
    FlowRLError,
    InternalError,
    InvalidArgumentError,
    InvalidStateError,
    NumericalError,
)

__version__ = "0.1.0"

__all__ = [
    "ABI_VERSION",
    "Agent",
    "CheckpointError",
    "FlowBC",
    "FlowRLError",
    "InternalError",
    "InvalidArgumentError",
    "InvalidStateError",
    "NumericalError",
    "library_path",
    "set_blas_threads",
    "version",
]

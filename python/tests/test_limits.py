"""Settings that would exhaust memory are refused with a message, before anything is allocated."""

from __future__ import annotations

import flowrl
import numpy as np
import pytest
from gymnasium import spaces


def test_networks_too_large_to_hold_are_refused() -> None:
    box = spaces.Box(-1, 1, (3,))
    with pytest.raises(flowrl.InvalidArgumentError, match="hidden_sizes"):
        flowrl.SWFP(observation_space=box, action_space=box, hidden_sizes=[16384, 16384])
    with pytest.raises(flowrl.InvalidArgumentError, match="critic_hidden_sizes"):
        flowrl.SWFP(observation_space=box, action_space=box, critic_hidden_sizes=[100_000])


def test_replay_buffer_beyond_the_machine_memory_is_refused() -> None:
    observations = spaces.Box(-1, 1, (50_000,))
    actions = spaces.Box(-1, 1, (2,))
    with pytest.raises(flowrl.InvalidArgumentError, match="buffer_size"):
        flowrl.FlowBC(observation_space=observations, action_space=actions, buffer_size=10_000_000, hidden_sizes=[8])
    # A sensible size for the same spaces works.
    agent = flowrl.FlowBC(observation_space=observations, action_space=actions, buffer_size=100, hidden_sizes=[8])
    assert agent.act(np.zeros(50_000, np.float32)).shape == (2,)

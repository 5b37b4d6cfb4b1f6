"""SWFP, the Stepwise Flow Policy."""

from __future__ import annotations

from .agent import Agent


class SWFP(Agent):
    """Each update trains a soft twin critic on the replay buffer and then, every ``policy_delay``
    updates, moves one block (or all blocks) of the flow towards ``exp(Q/α)`` while Wasserstein
    terms hold it near the previous iterate (the lagged prior policy). The exact losses are in the
    repository's docs/algorithms.md, section "SWFP".
    """

    algorithm = "swfp"

    #: Policy names for Stable-Baselines3's first argument besides "MlpPolicy" (the same policy).
    policy_aliases = {"FlowPolicy": {}}

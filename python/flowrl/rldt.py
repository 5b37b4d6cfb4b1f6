"""RLDT, reinforcement learning for flow-matching policies with density transport."""

from __future__ import annotations

from .agent import Agent


class RLDT(Agent):
    """Each update trains a twin critic on the replay buffer (targets averaged over fresh policy
    samples, no entropy term) and then, every ``policy_delay`` updates, draws P chains per state,
    builds an SVGD transport field at their ends from the critic's action gradients, and aligns the
    velocity field with it at a random intermediate step of each chain (the chain's end predicted in
    one jump), with a consistency term and a velocity-matching trust region to a reference policy
    (arXiv:2606.08602). No log-density is computed. The exact losses are in the repository's
    docs/algorithms.md, section "RLDT".
    """

    algorithm = "rldt"

    #: Policy names for Stable-Baselines3's first argument besides "MlpPolicy" (the same policy).
    policy_aliases = {"FlowPolicy": {}}

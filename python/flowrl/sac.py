"""SAC, the Gaussian soft actor-critic baseline."""

from __future__ import annotations

from .agent import Agent


class SAC(Agent):
    """The like-for-like yardstick for flowrl's flow-policy algorithms: the same shared critic,
    temperature, replay buffer and training loop, and SB3's update order (α step, critic step,
    actor step with the updated critic, Polyak targets). :meth:`pretrain` is behaviour cloning
    by maximum likelihood. ``alpha`` is SB3's ``ent_coef``.
    """

    algorithm = "sac"

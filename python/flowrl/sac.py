"""SAC, the Gaussian soft actor-critic baseline."""

from __future__ import annotations

from .agent import Agent


class SAC(Agent):
    """Soft actor-critic with a tanh-squashed Gaussian policy and Stable-Baselines3's defaults.

    The like-for-like yardstick for flowrl's flow-policy algorithms: the same shared critic,
    temperature, replay buffer and training loop, and SB3's update order (α step, critic step,
    actor step with the updated critic, Polyak targets). :meth:`pretrain` is behaviour cloning
    by maximum likelihood.

    Hyperparameters (keyword arguments; defaults in brackets, SB3's where SB3 has one):
    ``hidden_sizes`` [256, 256], ``critic_hidden_sizes`` [256, 256], ``learning_rate`` [3e-4],
    ``batch_size`` [256], ``buffer_size`` [1_000_000], ``gamma`` [0.99], ``critic_tau`` [0.005],
    ``alpha`` ["auto"] (SB3's ``ent_coef``), ``initial_alpha`` [1.0], ``target_entropy``
    ["auto" = −d], ``learning_starts`` [100], ``train_freq`` [1], ``gradient_steps`` [1],
    ``target_update_interval`` [1], ``policy_delay`` [1].
    """

    algorithm = "sac"

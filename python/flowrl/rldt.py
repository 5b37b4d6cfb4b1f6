"""RLDT, reinforcement learning for flow-matching policies with density transport."""

from __future__ import annotations

from .agent import Agent


class RLDT(Agent):
    """RLDT: a flow policy fine-tuned online by density transport (arXiv:2606.08602).

    Each update trains a twin critic on the replay buffer (targets averaged over fresh policy
    samples, no entropy term) and then, every ``policy_delay`` updates, draws P chains per state,
    builds an SVGD transport field at their ends from the critic's action gradients, and aligns the
    velocity field with it at a random intermediate step of each chain (the chain's end predicted in
    one jump), with a consistency term and a velocity-matching trust region to a reference policy.
    No log-density is computed. The exact losses are in the repository's docs/algorithms.md,
    section "RLDT".

    Hyperparameters (keyword arguments; defaults in brackets):
    ``flow_steps`` [4] (K), ``particles`` [8] (P), ``actor_batch_size`` [32] (states per actor
    step, each with P particles), ``kernel`` ["rbf" | "delta"], ``svgd_temperature`` [1e-3],
    ``consistency_weight`` [0.5], ``trust_region_weight`` [0.2], ``reference`` ["lagged" |
    "pretrained"], ``reference_update`` [0.01] (Polyak rate, or a whole number K: hard copy every K
    actor updates), ``target_samples`` [2] (M), ``hidden_sizes`` [256, 256], ``activation``
    ["silu"], ``time_embedding_size`` [16], ``critic_hidden_sizes`` [256, 256], ``learning_rate``
    [3e-4], ``critic_learning_rate`` [3e-4], ``batch_size`` [256], ``buffer_size`` [1_000_000],
    ``gamma`` [0.99], ``critic_tau`` [0.005], ``target_update_interval`` [1], ``policy_delay`` [1],
    ``learning_starts`` [100], ``train_freq`` [1], ``gradient_steps`` [1].
    """

    algorithm = "rldt"

"""SWFP, the Stepwise Flow Policy."""

from __future__ import annotations

from .agent import Agent


class SWFP(Agent):
    """Stepwise Flow Policy: a flow policy fine-tuned online as a cascade of N small JKO steps.

    Each update trains a soft twin critic on the replay buffer and then, every ``policy_delay``
    updates, moves one block (or all blocks) of the flow towards ``exp(Q/α)`` while Wasserstein
    terms hold it near the previous iterate (the lagged prior policy). The exact losses are in the
    repository's docs/algorithms.md, section "SWFP".

    Hyperparameters (keyword arguments; defaults in brackets):
    ``flow_steps`` [5] (N), ``tau`` [0.1] (JKO step), ``w2_scale`` [0.4] (ε),
    ``alpha`` ["auto"] (or a float), ``initial_alpha`` [1.0], ``target_entropy`` ["auto" = −d],
    ``energy_at`` ["block" | "terminal"], ``prior_update`` [0.01] (Polyak rate, or a whole
    number K: hard copy every K actor updates), ``blocks`` ["shared" | "separate"],
    ``block_training`` ["sampled" | "parallel"], ``divergence`` ["exact" | "hutchinson" | "logdet"],
    ``hutchinson_probes`` [1], ``hidden_sizes`` [256, 256], ``activation`` ["silu"],
    ``time_embedding_size`` [16], ``critic_hidden_sizes`` [256, 256], ``learning_rate`` [3e-4],
    ``critic_learning_rate`` [3e-4], ``batch_size`` [256], ``buffer_size`` [1_000_000],
    ``gamma`` [0.99], ``critic_tau`` [0.005], ``learning_starts`` [1000], ``train_freq`` [1],
    ``gradient_steps`` [1], ``policy_delay`` [1].
    """

    algorithm = "swfp"

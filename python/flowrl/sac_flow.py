"""SAC Flow: flow policies trained end to end with soft actor-critic."""

from __future__ import annotations

from .agent import Agent


class SACFlow(Agent):
    """SAC Flow: a flow policy whose K-step rollout adds learned Gaussian noise at every step,
    trained end to end with soft actor-critic through the whole rollout.

    ``velocity="gated"`` is Flow-G (``v = z ⊙ (h̃ − x)`` with a sigmoid gate that starts open),
    ``velocity="decoder"`` is Flow-T (pre-norm decoder layers of self-attention, cross-attention to
    the state token and a GELU feed-forward, with heads for ``μ_v`` and ``σ_v``), ``velocity="mlp"``
    the plain MLP field.
    :meth:`pretrain` fits the velocity field by flow matching; ``bc_coef`` adds the proximity
    term ``bc_coef · mean ‖a_π − a_buffer‖²`` to the actor loss for offline-to-online training.

    Hyperparameters (keyword arguments; defaults in brackets): ``velocity`` ["gated" | "decoder" | "mlp"],
    ``flow_steps`` [4] (K), ``hidden_sizes`` [256, 256], ``sigma_hidden_sizes`` [256],
    ``decoder_width`` [64], ``decoder_layers`` [2], ``decoder_heads`` [4],
    ``time_embedding_size`` [16], ``critic_hidden_sizes`` [256, 256], ``learning_rate`` [3e-4],
    ``batch_size`` [256], ``buffer_size`` [1_000_000], ``gamma`` [0.99], ``critic_tau`` [0.005],
    ``alpha`` ["auto"], ``initial_alpha`` [1.0], ``target_entropy`` ["auto" = −d; the authors'
    code uses 0], ``bc_coef`` [0.0], ``learning_starts`` [100], ``train_freq`` [1],
    ``gradient_steps`` [1], ``target_update_interval`` [1], ``policy_delay`` [1].
    """

    algorithm = "sac_flow"

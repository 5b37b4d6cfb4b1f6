"""SAC Flow: flow policies trained end to end with soft actor-critic."""

from __future__ import annotations

from .agent import Agent


class SACFlow(Agent):
    """The K-step rollout adds learned Gaussian noise at every step, and soft actor-critic trains
    the policy end to end through the whole rollout.

    ``velocity="gated"`` is Flow-G (``v = z ⊙ (h̃ − x)`` with a sigmoid gate that starts open),
    ``velocity="decoder"`` is Flow-T (pre-norm decoder layers of self-attention, cross-attention to
    the state token and a GELU feed-forward, with heads for ``μ_v`` and ``σ_v``), ``velocity="mlp"``
    the plain MLP field.
    :meth:`pretrain` fits the velocity field by flow matching; ``bc_coef`` adds the proximity
    term ``bc_coef · mean ‖a_π − a_buffer‖²`` to the actor loss for offline-to-online training.
    The authors' code uses ``target_entropy=0``.
    """

    algorithm = "sac_flow"

    #: Policy names for Stable-Baselines3's first argument: the paper's names of the velocity fields.
    policy_aliases = {"FlowPolicy": {}, "FlowG": {"velocity": "gated"}, "FlowT": {"velocity": "decoder"},
                      "FlowMlp": {"velocity": "mlp"}}

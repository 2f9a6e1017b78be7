"""Optimisation attacks (DE, random, gradient) and their scoring against the complete set of flips.

- ``de_attack``: differential evolution of Su et al. through the
  adversarial-robustness-toolbox, on a black-box wrapper of the network.
- ``random_attack``: single flips in a random order until the first success
  or the query budget (what foolbox's SinglePixelAttack does).
- ``gradient_attack``: white box; pixels ranked by the first-order change of
  the label margin, tried in that order.

Each returns an ``AttackResult``; ``verify_flips`` re-checks its successes and
``onepixel.attacks.scores`` scores them against a search's cube. Each takes
``answers=SearchedFlips(...)``, a search's decisions and margins for every
flip of the attacked images, to answer its queries from.
"""

from onepixel.attacks.base import (
    NOT_FOUND,
    AttackResult,
    SearchedFlips,
    binarise,
    make_label_fn,
    verify_flips,
)
from onepixel.attacks.de import de_attack
from onepixel.attacks.gradient import gradient_attack, gradient_ranks, margin_gradients
from onepixel.attacks.random_flips import random_attack

__all__ = [
    "NOT_FOUND",
    "AttackResult",
    "SearchedFlips",
    "binarise",
    "de_attack",
    "gradient_attack",
    "gradient_ranks",
    "make_label_fn",
    "margin_gradients",
    "random_attack",
    "verify_flips",
]

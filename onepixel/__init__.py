"""onepixel: exhaustive one-pixel adversarial studies (Kügler et al., 2018)."""

__version__ = "0.1.0"

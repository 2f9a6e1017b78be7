"""The exact exhaustive one-pixel search: the public ``flip_search``, its plain and fast paths, the cube."""

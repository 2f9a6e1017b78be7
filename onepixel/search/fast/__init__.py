"""Exact exhaustive flip search: incremental, deduplicated, tabulated.

Flipping one pixel changes the first conv output only in a k x k window, so
only a few pooled cells of each block, and the Dense pre-activation only by
(new - old pooled cells of the last block) times the matching rows of the
Dense kernel. The search splits that change in two parts:

1. *Prefix table.* The conv blocks before the last one turn the flip into a
   small fixed-size delta of the last block's input (the pooled cells the
   flip reaches), which depends only on a small input *patch* around the
   pixel (6 x 6 for the paper's net). Its effect on the last conv's
   pre-activation (a fixed matrix product) is tabulated once per unique patch.
2. *Last block and Dense.* Per unique input *window* feeding the last block's
   reachable cells, the base pre-activation of those cells is read from a
   band of the full images' forward pass, the table entry is added, and
   ``pool(relu(z + change)) - pool(relu(z))`` times the Dense rows gives the
   change of the Dense pre-activation. Far from the line windows repeat, so
   this runs once per unique (window, pixel) pair, not per candidate.

Every candidate then only pays ``relu(h_base + change) . w_margin``.

All sizes and offsets come from the layer specification (kernel, pool,
number of blocks, image size) in ``axis_plan``; the plain search in
``onepixel.search.plain`` is the reference this module is tested against.
"""

from onepixel.search.fast.kernels import BAND_BYTES, conv_stack
from onepixel.search.fast.keys import PackedImages, unique_keys
from onepixel.search.fast.plan import AxisPlan, axis_plan, fast_path_problem
from onepixel.search.fast.run import fast_flip_margins
from onepixel.search.fast.stats import FastSearchStats

__all__ = [
    "BAND_BYTES",
    "AxisPlan",
    "FastSearchStats",
    "PackedImages",
    "axis_plan",
    "conv_stack",
    "fast_flip_margins",
    "fast_path_problem",
    "unique_keys",
]

"""Networks: the architecture record, the paper's CNN and its kin, and batched inference."""

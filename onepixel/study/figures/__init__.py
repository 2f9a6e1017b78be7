"""The study's figures (PNG and PDF): the paper's Fig. 2-6, the variants' and the attacks'."""

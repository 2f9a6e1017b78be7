"""The study's tables (CSV): Table 1, rates, training, variants, adversarial rounds, attacks."""

"""Images: line rasterisers, the line manifold's dataset, and the one-flip pairs between images."""

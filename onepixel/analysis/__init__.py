"""Analyses of complete sets of one-pixel flips (flip cubes), on arrays: no files, no workflow."""

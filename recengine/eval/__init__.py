"""Evaluation: official MIND ranking metrics (:mod:`recengine.eval.metrics`), slices and comparisons."""

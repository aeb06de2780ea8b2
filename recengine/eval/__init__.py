"""Evaluation: the MIND ranking metrics and their registry (:mod:`recengine.eval.metrics`), slices and the
evaluation of a model beside random and oracle (:mod:`recengine.eval.evaluate`), comparison tables
(:mod:`recengine.eval.compare`). Nothing here trains: eval sits below train."""

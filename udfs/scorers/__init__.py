"""Batched scorers for L2: LLM judges behind three backends, and classifiers distilled from their labels.

A scorer takes a whole batch of texts and returns one :class:`~udfs.scorers.base.Score` per text;
its identity (name, model, prompt version) is part of every ``ops.scores`` cache key.
"""

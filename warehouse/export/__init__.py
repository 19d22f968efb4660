"""From tiers to training runs and back.

- ``dataset``: ``tierhouse export``, a training stage's dataset pinned to a build (shards + manifest);
- ``mixtures``: slice weights, versioned in ``ops.mixtures``; ``feedback`` proposes the next one
  from a training run's per-slice losses;
- ``ledger``: what each build's LLM steps cost (``ops.costs``), and what an export's documents cost.
"""

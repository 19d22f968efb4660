"""``tierhouse evaluate``: does tiering pay on this corpus? Small proxy LMs trained per arm, and their feedback.

- ``holdout``: the doc_id-hash split that no export and no arm ever trains on;
- ``streams``: each arm's token stream from ``tierhouse export``, the held-out slices and the eval file;
- ``model`` and ``train``: a tiny causal LM and its seeded, deterministic CPU training loop;
- ``metrics``: eval loss, per-slice losses, the unigram baseline, L4 cloze accuracy, means and CIs;
- ``results``: rows of ``ops.evaluations`` and the feedback file ``tierhouse feedback import`` reads.
"""

"""The pure scoring domain: the rubric document, segmentation, the scoring function with
its ledger, the merge of a lead's facts and evidence, and the rubric lifecycle.

Nothing here imports faust, aiokafka, asyncpg or FastAPI."""

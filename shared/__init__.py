"""Leadbridge's own shared package: event contracts and the plumbing every service uses.

Public surface:

- :mod:`shared.events`   – immutable event models (the contracts)
- :mod:`shared.topics`   – the one topic registry (name, key, value model, partitions)
- :mod:`shared.codec`    – the one codec (JSON body + CloudEvents binary-mode headers)
- :mod:`shared.settings` – the settings base every service extends
- :mod:`shared.service`  – the service factory (faust worker + FastAPI + health + metrics)
- :mod:`shared.consumer` – idempotent, batched, dead-lettering event handling
- :mod:`shared.db`       – PostgreSQL pool, per-service schema migrations, inbox and outbox
"""

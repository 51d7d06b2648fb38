"""Leadbridge's own shared package: event contracts and the plumbing every service uses.

Public surface:

- :mod:`shared.events`   – immutable event models (the contracts)
- :mod:`shared.topics`   – the one topic registry (name, key, value model, partitions)
- :mod:`shared.codec`    – the one codec (JSON body + CloudEvents binary-mode headers)
- :mod:`shared.settings` – the settings base every service extends
- :mod:`shared.service`  – the service factory (batch consumer + FastAPI + health + metrics)
- :mod:`shared.consumer` – the service's consumer-group member: batches in, offsets after handling
- :mod:`shared.handling` – what handlers see: unit of work, handler types, subscriptions, clocks (no Kafka, no driver)
- :mod:`shared.testing`  – the shipped fake unit of work, for handlers' unit tests
- :mod:`shared.runtime`  – idempotent, batched, dead-lettering event handling over the pool and the publisher
- :mod:`shared.publisher` – the Kafka producer (the only module that sends)
- :mod:`shared.kafka_pacing` – backoff for the Kafka clients' metadata refreshes (no reconnect storms)
- :mod:`shared.db`       – PostgreSQL pool, per-service schema migrations, inbox and outbox
"""

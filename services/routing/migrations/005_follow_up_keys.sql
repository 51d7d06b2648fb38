-- A follow-up sent from a phone on a flaky connection may arrive twice: the client's
-- Idempotency-Key is kept with the follow-up it recorded, and a retry with the same key
-- answers that follow-up instead of recording another.
ALTER TABLE {schema}.follow_ups ADD COLUMN idempotency_key text;
CREATE UNIQUE INDEX follow_ups_idempotency_key ON {schema}.follow_ups (idempotency_key)
    WHERE idempotency_key IS NOT NULL;

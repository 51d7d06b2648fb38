-- Erasures (GDPR): each request, when the person's key was destroyed, and each service's
-- confirmation; complete (the receipt published) once every service has confirmed. They
-- name the person by lead id only.
CREATE TABLE {schema}.erasures (
    erasure_id       text PRIMARY KEY,
    lead_id          text NOT NULL,
    reason           text NOT NULL,
    requested_by     text NOT NULL DEFAULT '',
    requested_at     timestamptz NOT NULL,
    key_destroyed_at timestamptz NOT NULL,
    completed_at     timestamptz
);
CREATE INDEX erasures_pending ON {schema}.erasures (lead_id) WHERE completed_at IS NULL;

CREATE TABLE {schema}.erasure_confirmations (
    erasure_id text NOT NULL REFERENCES {schema}.erasures(erasure_id),
    service    text NOT NULL,
    erased_at  timestamptz NOT NULL,
    rows       integer NOT NULL,
    PRIMARY KEY (erasure_id, service)
);
-- Retention: unconverted leads by their last capture.
CREATE INDEX leads_by_last_capture ON {schema}.leads (last_captured_at);

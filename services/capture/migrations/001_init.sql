-- One row per person (normalised email): the lead's identity and its projection.
CREATE TABLE {schema}.leads (
    lead_id           text PRIMARY KEY,
    email_norm        text NOT NULL UNIQUE,
    profile           jsonb NOT NULL,
    consent           boolean NOT NULL,
    first_source      text NOT NULL,
    first_campaign    text,
    sources           text[] NOT NULL DEFAULT '{}',
    campaigns         text[] NOT NULL DEFAULT '{}',
    capture_count     integer NOT NULL DEFAULT 1,
    first_captured_at timestamptz NOT NULL,
    last_captured_at  timestamptz NOT NULL,
    status            text NOT NULL DEFAULT 'captured',
    score             double precision,
    grade             text,
    segment           text,
    rubric_version    text,
    top_reasons       jsonb NOT NULL DEFAULT '[]',
    owner_kind        text,
    rep_id            text,
    team              text,
    assignment_id     text,
    due_at            timestamptz,
    assigned_at       timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Every accepted submission, so a retried one (same idempotency key) is answered, not re-published.
CREATE TABLE {schema}.captures (
    capture_id      text PRIMARY KEY,
    idempotency_key text UNIQUE,
    lead_id         text NOT NULL REFERENCES {schema}.leads(lead_id),
    source          text NOT NULL,
    campaign        text,
    occurred_at     timestamptz NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE {schema}.activities (
    activity_id     text PRIMARY KEY,
    idempotency_key text UNIQUE,
    lead_id         text NOT NULL REFERENCES {schema}.leads(lead_id),
    behaviour       text NOT NULL,
    occurred_at     timestamptz NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now()
);

-- The lead's timeline: one entry per lead event, whoever emitted it.
CREATE TABLE {schema}.timeline (
    event_id    text PRIMARY KEY,
    lead_id     text NOT NULL,
    type        text NOT NULL,
    occurred_at timestamptz NOT NULL,
    summary     jsonb NOT NULL
);
CREATE INDEX timeline_by_lead ON {schema}.timeline (lead_id, occurred_at);
CREATE INDEX leads_by_campaign ON {schema}.leads (first_campaign);

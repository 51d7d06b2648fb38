-- Scoring's own tables. {schema} is replaced by the service's schema name.

-- Every rubric version ever created; the document is kept verbatim (what people approved).
CREATE TABLE {schema}.rubric_versions (
    version      text PRIMARY KEY,
    document     text NOT NULL,
    description  text NOT NULL DEFAULT '',
    status       text NOT NULL CHECK (status IN ('draft', 'approved', 'active', 'retired')),
    created_by   text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    activated_at timestamptz,
    activated_by text,
    retired_at   timestamptz
);
-- Only one version grades live traffic, whatever two replicas try at once.
CREATE UNIQUE INDEX rubric_versions_one_active ON {schema}.rubric_versions (status) WHERE status = 'active';

CREATE TABLE {schema}.rubric_approvals (
    version     text NOT NULL REFERENCES {schema}.rubric_versions(version),
    approver    text NOT NULL,
    side        text NOT NULL CHECK (side IN ('marketing', 'sales')),
    approved_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (version, approver, side)
);

-- Each activation (including rollbacks), in order.
CREATE TABLE {schema}.rubric_activations (
    id               bigserial PRIMARY KEY,
    version          text NOT NULL REFERENCES {schema}.rubric_versions(version),
    previous_version text,
    activated_by     text,
    activated_at     timestamptz NOT NULL DEFAULT now()
);

-- One row per captured lead: the merged facts and the latest grade with its ledger.
CREATE TABLE {schema}.leads (
    lead_id          text PRIMARY KEY,
    profile          jsonb NOT NULL,
    source           text NOT NULL,
    consent          boolean NOT NULL,
    capture_event_id text NOT NULL,
    captured_at      timestamptz NOT NULL,
    campaign         text,
    campaign_at      timestamptz,
    campaign_event_id text,
    score            double precision NOT NULL,
    fit_score        double precision NOT NULL,
    engagement_score double precision NOT NULL,
    grade            text NOT NULL,
    hot              boolean NOT NULL,
    disqualified     boolean NOT NULL,
    segment          text NOT NULL,
    rubric_version   text NOT NULL,
    as_of            timestamptz NOT NULL,
    -- json, not jsonb: written on every grade, read only to show it; json stores the text as is.
    ledger           json NOT NULL,
    overrides        json NOT NULL,
    cause_event_id   text NOT NULL,
    scored_at        timestamptz NOT NULL DEFAULT now()
);

-- Engagement evidence, also for leads not captured yet (counted once they are).
CREATE TABLE {schema}.evidence (
    lead_id     text NOT NULL,
    event_id    text NOT NULL,
    behaviour   text NOT NULL,
    occurred_at timestamptz NOT NULL,
    campaign    text,
    PRIMARY KEY (lead_id, event_id)
);

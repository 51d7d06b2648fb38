-- The campaigns marketing defined (from campaign-defined): a lead or activity naming another is refused.
CREATE TABLE {schema}.campaigns (
    campaign_id text PRIMARY KEY,
    name        text NOT NULL,
    type        text NOT NULL,
    version     integer NOT NULL,
    defined_at  timestamptz NOT NULL
);

-- Every outcome the CRM reported, matched to a lead or waiting for one (never dropped).
CREATE TABLE {schema}.outcomes (
    outcome_id     text PRIMARY KEY,
    source         text NOT NULL,
    opportunity_id text NOT NULL,
    kind           text NOT NULL,
    stage          text,
    amount_minor   bigint,
    currency       text,
    close_date     date,
    occurred_at    timestamptz NOT NULL,
    named_lead_id  text,
    email_norm     text,
    account_domain text,
    lead_id        text,
    matched_by     text,
    matched_at     timestamptz,
    received_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outcomes_waiting_by_email ON {schema}.outcomes (email_norm) WHERE lead_id IS NULL;
CREATE INDEX outcomes_waiting_by_domain ON {schema}.outcomes (account_domain) WHERE lead_id IS NULL;
CREATE INDEX outcomes_waiting ON {schema}.outcomes (received_at) WHERE lead_id IS NULL;
CREATE INDEX leads_by_email_domain ON {schema}.leads (split_part(email_norm, '@', 2), last_captured_at DESC);

-- Routing's own state. Nobody else reads these tables: they learn from routing's events.

-- The live organisation and rules: one row per kind, replaced only by a validated version.
CREATE TABLE {schema}.config (
    kind       text PRIMARY KEY CHECK (kind IN ('org', 'rules')),
    version    integer NOT NULL,
    document   jsonb NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    changed_by text NOT NULL DEFAULT ''
);
CREATE TABLE {schema}.config_history (
    kind       text NOT NULL,
    version    integer NOT NULL,
    document   jsonb NOT NULL,
    change     text NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    changed_by text NOT NULL DEFAULT '',
    PRIMARY KEY (kind, version)
);

-- What routing knows of each lead (from its latest LeadScored).
CREATE TABLE {schema}.leads (
    lead_id        text PRIMARY KEY,
    facts          jsonb NOT NULL,
    profile        jsonb NOT NULL,
    last_event_id  text NOT NULL,
    scored_at      timestamptz NOT NULL
);

-- Every LeadScored routing handled: the input of the what-if replay.
CREATE TABLE {schema}.scored_history (
    event_id    text PRIMARY KEY,
    lead_id     text NOT NULL,
    occurred_at timestamptz NOT NULL,
    facts       jsonb NOT NULL
);
CREATE INDEX scored_history_time ON {schema}.scored_history (occurred_at);

-- Every owner a lead has had. status: open (clock running), followed_up (owner working
-- it), nurture (marketing owns it): these three are "active"; the rest are closed.
CREATE TABLE {schema}.assignments (
    assignment_id          text PRIMARY KEY,
    lead_id                text NOT NULL,
    owner_kind             text NOT NULL CHECK (owner_kind IN ('rep', 'queue', 'nurture')),
    rep_id                 text,
    team                   text,
    rule                   text NOT NULL,
    reason                 text NOT NULL,
    trigger                text NOT NULL,
    attempt                integer NOT NULL DEFAULT 0,
    chain                  jsonb NOT NULL DEFAULT '[]',  -- reps who held it since its last fresh routing
    previous_assignment_id text,
    status                 text NOT NULL,
    assigned_at            timestamptz NOT NULL,
    due_at                 timestamptz,
    remind_at              timestamptz,
    reminded_at            timestamptz,
    followed_up_at         timestamptz,
    closed_at              timestamptz,
    close_reason           text
);
-- A lead never has two active assignments.
CREATE UNIQUE INDEX assignments_one_active ON {schema}.assignments (lead_id)
    WHERE status IN ('open', 'followed_up', 'nurture');
CREATE INDEX assignments_due ON {schema}.assignments (due_at) WHERE status = 'open';
CREATE INDEX assignments_remind ON {schema}.assignments (remind_at) WHERE status = 'open' AND reminded_at IS NULL;
CREATE INDEX assignments_rep ON {schema}.assignments (rep_id) WHERE status IN ('open', 'followed_up');
CREATE INDEX assignments_lead ON {schema}.assignments (lead_id, assigned_at);

-- Why each assignment was made: rule, candidates, who was skipped and why, who got it.
CREATE TABLE {schema}.decisions (
    id            bigserial PRIMARY KEY,
    lead_id       text NOT NULL,
    assignment_id text NOT NULL,
    decided_at    timestamptz NOT NULL,
    trigger       text NOT NULL,
    cause_id      text NOT NULL,
    detail        jsonb NOT NULL
);
CREATE INDEX decisions_lead ON {schema}.decisions (lead_id, id);

CREATE TABLE {schema}.follow_ups (
    follow_up_id  text PRIMARY KEY,
    assignment_id text NOT NULL,
    lead_id       text NOT NULL,
    rep_id        text NOT NULL,
    outcome       text NOT NULL,
    note          text NOT NULL DEFAULT '',
    on_time       boolean NOT NULL,
    recorded_at   timestamptz NOT NULL
);
CREATE INDEX follow_ups_assignment ON {schema}.follow_ups (assignment_id);

-- Round-robin credits per team, open leads per rep, learned account owners.
CREATE TABLE {schema}.rotation (
    team    text PRIMARY KEY,
    credits jsonb NOT NULL
);
CREATE TABLE {schema}.rep_load (
    rep_id     text PRIMARY KEY,
    open_leads integer NOT NULL CHECK (open_leads >= 0)
);
CREATE TABLE {schema}.accounts (
    company_key text PRIMARY KEY,
    rep_id      text NOT NULL,
    since       timestamptz NOT NULL DEFAULT now()
);

-- The webinar automation: each event campaign's schedule as campaign-defined says, and
-- its no-show timer (due at the end plus the grace time; fired once, under FOR UPDATE
-- SKIP LOCKED, with the members it marks). A lead's latest grade, for every lead.
CREATE TABLE {schema}.webinars (
    campaign_id        text PRIMARY KEY,
    name               text NOT NULL,
    event_starts_at    timestamptz NOT NULL,
    event_ends_at      timestamptz NOT NULL,
    no_show_due_at     timestamptz NOT NULL,
    no_shows_marked_at timestamptz,
    no_shows           integer,
    updated_at         timestamptz NOT NULL
);
CREATE INDEX webinars_no_show_due ON {schema}.webinars (no_show_due_at) WHERE no_shows_marked_at IS NULL;

ALTER TABLE {schema}.contacts ADD COLUMN grade text;

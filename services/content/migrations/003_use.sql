-- Collateral in use (issue 11, items 5, 6 and 8): what content learns of deals from
-- deal-outcome-recorded, reps' ratings, each item's measured effectiveness per segment (what
-- "for this lead" ranks by), and the one-message check's published value propositions and
-- reps' answers. Usage (shared / viewed / used_in_meeting) is the usage table of 002.

-- Each opportunity folded from its outcomes (domain.effectiveness.apply_outcome).
CREATE TABLE {schema}.deals (
    opportunity_id text PRIMARY KEY,
    lead_id        text NOT NULL,
    stage          text,
    stage_at       timestamptz,
    opened_on      date,
    outcome        text CHECK (outcome IN ('won', 'lost')),
    closed_on      date,
    closed_at      timestamptz,
    amount_minor   bigint,
    currency       text,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX deals_lead ON {schema}.deals (lead_id);

-- A rep's rating of an item with a comment; a rep's latest rating of an item counts.
CREATE TABLE {schema}.ratings (
    rating_id text PRIMARY KEY,
    item_id   text NOT NULL REFERENCES {schema}.items(item_id),
    rep_id    text NOT NULL,
    rating    int NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment   text NOT NULL DEFAULT '',
    at        timestamptz NOT NULL
);
CREATE INDEX ratings_item ON {schema}.ratings (item_id, rep_id, at);

-- Measured effectiveness per item and segment, refreshed by the 'effectiveness' job.
CREATE TABLE {schema}.item_effectiveness (
    item_id          text NOT NULL,
    segment          text NOT NULL,
    score            double precision NOT NULL,
    shared_deals     int NOT NULL,
    comparable_deals int NOT NULL,
    computed_at      timestamptz NOT NULL,
    PRIMARY KEY (item_id, segment)
);

-- Marketing's value proposition per segment, versioned: the latest version is the message.
CREATE TABLE {schema}.value_propositions (
    segment      text NOT NULL,
    version      int NOT NULL,
    text         text NOT NULL,
    author       text NOT NULL,
    published_at timestamptz NOT NULL,
    PRIMARY KEY (segment, version)
);

-- Reps' answers to "what is your value proposition?"; a rep's latest answer per segment counts.
CREATE TABLE {schema}.value_proposition_answers (
    answer_id       text PRIMARY KEY,
    segment         text NOT NULL,
    rep_id          text NOT NULL,
    team            text NOT NULL,
    text            text NOT NULL,
    message_version int,
    at              timestamptz NOT NULL
);
CREATE INDEX value_proposition_answers_segment ON {schema}.value_proposition_answers (segment, rep_id, at);

-- Marketing's campaigns (nurture owns them; other services learn them from campaign-defined).
CREATE TABLE {schema}.campaigns (
    campaign_id      text PRIMARY KEY,
    version          integer NOT NULL,
    name             text NOT NULL,
    type             text NOT NULL,
    owner            text NOT NULL,
    starts_at        timestamptz NOT NULL,
    ends_at          timestamptz,
    cost_minor       bigint NOT NULL,
    currency         text NOT NULL,
    goal             text NOT NULL,
    event_starts_at  timestamptz,
    event_ends_at    timestamptz,
    time_zone        text,
    registration_url text,
    defined_at       timestamptz NOT NULL
);

-- Every lead nurture has heard of (from lead-captured), with its latest grade (lead-scored).
CREATE TABLE {schema}.leads (
    lead_id    text PRIMARY KEY,
    email_norm text NOT NULL,
    consent    boolean NOT NULL,
    grade      text,
    first_seen timestamptz NOT NULL
);
CREATE INDEX leads_by_email ON {schema}.leads (email_norm);

-- A lead's membership of a campaign: its furthest step and the moment of each step
-- reached, so that the report is one aggregate over a campaign's rows.
CREATE TABLE {schema}.members (
    campaign_id        text NOT NULL,
    lead_id            text NOT NULL,
    status             text NOT NULL,
    new_lead           boolean NOT NULL DEFAULT false,  -- the capture naming it made the lead
    channel            text,                            -- how the lead came in (capture source, or activity)
    grade              text,
    joined_at          timestamptz NOT NULL,
    invited_at         timestamptz,
    registered_at      timestamptz,
    attended_at        timestamptz,
    no_show_at         timestamptz,
    visited_at         timestamptz,
    followed_up_at     timestamptz,
    followed_up_on_time boolean,
    opportunity_at     timestamptz,
    won_at             timestamptz,
    lost_at            timestamptz,
    updated_at         timestamptz NOT NULL,
    PRIMARY KEY (campaign_id, lead_id)
);
CREATE INDEX members_by_lead ON {schema}.members (lead_id);
CREATE INDEX members_by_status ON {schema}.members (campaign_id, status);

-- Each time a campaign touched a lead (a capture or an activity naming it): what attribution credits.
CREATE TABLE {schema}.touches (
    touch_id    text PRIMARY KEY,
    lead_id     text NOT NULL,
    campaign_id text NOT NULL,
    at          timestamptz NOT NULL,
    channel     text NOT NULL
);
CREATE INDEX touches_by_lead ON {schema}.touches (lead_id, at);

-- Opportunities from the CRM (deal-outcome-recorded), as they stand now.
CREATE TABLE {schema}.deals (
    opportunity_id text PRIMARY KEY,
    lead_id        text NOT NULL,
    status         text NOT NULL,  -- open | won | lost
    stage          text,
    amount_minor   bigint,
    currency       text,
    opened_at      timestamptz,
    closed_at      timestamptz,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX deals_by_lead ON {schema}.deals (lead_id);
CREATE INDEX deals_won ON {schema}.deals (status, closed_at);

-- Each won deal's revenue credited to campaigns, by every attribution model.
CREATE TABLE {schema}.credits (
    opportunity_id text NOT NULL,
    model          text NOT NULL,
    campaign_id    text NOT NULL,
    channel        text NOT NULL,
    credit_minor   bigint NOT NULL,
    currency       text NOT NULL,
    closed_at      timestamptz NOT NULL,
    PRIMARY KEY (opportunity_id, model, campaign_id, channel)
);
CREATE INDEX credits_by_campaign ON {schema}.credits (campaign_id, model);

-- Marketing's programs: tracks as versioned data, each lead's enrolment on one (its step
-- timer: due_at, fired once by the nurture-steps job under FOR UPDATE SKIP LOCKED), the
-- messages it sends (queued by a step, sent by the nurture-mail job at the moment consent,
-- unsubscribes and the per-person limit allow), rep tasks, and what nurture knows of each
-- lead to send to it (from lead-captured, lead-assigned and lead-engaged).
CREATE TABLE {schema}.tracks (
    name        text NOT NULL,
    version     integer NOT NULL,
    document    jsonb NOT NULL,
    created_at  timestamptz NOT NULL,
    created_by  text NOT NULL DEFAULT '',
    PRIMARY KEY (name, version)
);

CREATE TABLE {schema}.enrollments (
    enrollment_id  text PRIMARY KEY,
    lead_id        text NOT NULL,
    track          text NOT NULL,
    version        integer NOT NULL,
    status         text NOT NULL,            -- active | completed | exited
    step_index     integer NOT NULL DEFAULT 0,
    pass           integer NOT NULL DEFAULT 1,   -- 2, 3, ... when the track recycles
    due_at         timestamptz,              -- the step timer; NULL once ended
    campaign       text,
    entered_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    exit_reason    text,
    fired          integer NOT NULL DEFAULT 0    -- how many times its timer fired
);
CREATE UNIQUE INDEX enrollments_one_active ON {schema}.enrollments (lead_id) WHERE status = 'active';
CREATE INDEX enrollments_due ON {schema}.enrollments (due_at) WHERE status = 'active';

CREATE TABLE {schema}.contacts (
    lead_id     text PRIMARY KEY,
    email       text,
    name        text,
    company     text,
    consent     boolean,
    rep_id      text,
    team        text,
    engaged_at  timestamptz,
    replied_at  timestamptz,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX contacts_by_email ON {schema}.contacts (lower(email));

CREATE TABLE {schema}.unsubscribes (
    email       text PRIMARY KEY,            -- lower case
    lead_id     text,
    message_id  text,
    at          timestamptz NOT NULL
);

CREATE TABLE {schema}.messages (
    message_id     text PRIMARY KEY,
    lead_id        text NOT NULL,
    enrollment_id  text,
    track          text,
    version        integer,
    step_id        text,
    campaign       text,
    template       jsonb NOT NULL,
    status         text NOT NULL,            -- queued | sent | suppressed
    reason         text,                     -- why suppressed, or last deferral
    created_at     timestamptz NOT NULL,
    not_before     timestamptz NOT NULL,
    sent_at        timestamptz,
    to_email       text,
    subject        text,
    links          jsonb NOT NULL DEFAULT '[]',
    opens          integer NOT NULL DEFAULT 0,
    clicks         integer NOT NULL DEFAULT 0
);
CREATE INDEX messages_queued ON {schema}.messages (not_before) WHERE status = 'queued';
CREATE INDEX messages_sent_to ON {schema}.messages (to_email, sent_at) WHERE status = 'sent';
CREATE INDEX messages_by_lead ON {schema}.messages (lead_id);

CREATE TABLE {schema}.tasks (
    task_id        text PRIMARY KEY,
    lead_id        text NOT NULL,
    kind           text NOT NULL,            -- track | pre-event
    title          text NOT NULL,
    rep_id         text,
    team           text,
    due_at         timestamptz NOT NULL,
    status         text NOT NULL DEFAULT 'open',   -- open | done
    interests      text NOT NULL DEFAULT '',
    campaign       text,
    enrollment_id  text,
    created_at     timestamptz NOT NULL,
    done_at        timestamptz
);
CREATE INDEX tasks_by_owner ON {schema}.tasks (rep_id, status, due_at);
CREATE INDEX tasks_by_campaign ON {schema}.tasks (campaign, kind);
CREATE INDEX tasks_by_lead ON {schema}.tasks (lead_id);

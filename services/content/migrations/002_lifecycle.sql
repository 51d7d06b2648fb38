-- The collateral lifecycle (issue 11): versions with their files, reviews tied to a version,
-- the history of every transition, full-text search, share links and their usage, and the
-- year's retirement timer.
ALTER TABLE {schema}.items ALTER COLUMN url DROP NOT NULL;
ALTER TABLE {schema}.items
    ADD COLUMN products             text[] NOT NULL DEFAULT '{}',
    ADD COLUMN personas             text[] NOT NULL DEFAULT '{}',
    ADD COLUMN current_version      int,
    ADD COLUMN published_version    int,
    ADD COLUMN reviewers            jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN changes_requested_on int,
    ADD COLUMN submitted_at         timestamptz,
    ADD COLUMN published_at         timestamptz,
    -- the year's timer: when it retires, and the nearest warning sent for that date (weeks before)
    ADD COLUMN retire_at            timestamptz,
    ADD COLUMN warned_weeks         int,
    ADD COLUMN successor_id         text,
    -- ranking hook: measured effectiveness for the item (collateral-use fills it), 0 until measured
    ADD COLUMN effectiveness        double precision NOT NULL DEFAULT 0,
    -- the text extracted from the latest version's file (PDF, PPTX, DOCX, template)
    ADD COLUMN body_text            text NOT NULL DEFAULT '',
    ADD COLUMN search               tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', coalesce(title, '')), 'A') ||
        setweight(to_tsvector('english', coalesce(summary, '')), 'B') ||
        setweight(to_tsvector('english', coalesce(body_text, '')), 'C')) STORED;
CREATE INDEX items_search ON {schema}.items USING gin (search);
CREATE INDEX items_retire_at ON {schema}.items (retire_at) WHERE retire_at IS NOT NULL;

-- Each revision: immutable, with its file (in the storage port, under storage_key) and checksum.
CREATE TABLE {schema}.versions (
    item_id      text NOT NULL REFERENCES {schema}.items(item_id),
    version      int NOT NULL,
    filename     text NOT NULL,
    content_type text NOT NULL,
    size_bytes   bigint NOT NULL,
    sha256       text NOT NULL,
    storage_key  text NOT NULL,
    text_chars   int NOT NULL DEFAULT 0,
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (item_id, version)
);

-- Reviewers' decisions, each tied to the version reviewed.
CREATE TABLE {schema}.reviews (
    review_id  bigserial PRIMARY KEY,
    item_id    text NOT NULL REFERENCES {schema}.items(item_id),
    version    int NOT NULL,
    reviewer   text NOT NULL,
    role       text NOT NULL,
    decision   text NOT NULL,
    comment    text NOT NULL DEFAULT '',
    at         timestamptz NOT NULL
);
CREATE INDEX reviews_item ON {schema}.reviews (item_id, version);

-- Every transition, who and when (the same facts as collateral-status-changed).
CREATE TABLE {schema}.history (
    seq         bigserial PRIMARY KEY,
    item_id     text NOT NULL REFERENCES {schema}.items(item_id),
    action      text NOT NULL,
    from_status text,
    to_status   text NOT NULL,
    version     int,
    actor_id    text NOT NULL,
    actor_role  text NOT NULL,
    comment     text NOT NULL DEFAULT '',
    at          timestamptz NOT NULL
);
CREATE INDEX history_item ON {schema}.history (item_id, seq);

-- Segments seen on lead-scored: an item may be tagged only with one of these.
CREATE TABLE {schema}.known_segments (
    segment    text PRIMARY KEY,
    first_seen timestamptz NOT NULL
);
INSERT INTO {schema}.known_segments(segment, first_seen)
    SELECT segment, min(updated_at) FROM {schema}.lead_segments GROUP BY segment;
ALTER TABLE {schema}.lead_segments
    ADD COLUMN name    text NOT NULL DEFAULT '',
    ADD COLUMN company text NOT NULL DEFAULT '';

-- Share links: one per item version, lead and rep; the token is the unguessable link.
CREATE TABLE {schema}.shares (
    share_id     text PRIMARY KEY,
    token        text NOT NULL UNIQUE,
    item_id      text NOT NULL REFERENCES {schema}.items(item_id),
    version      int NOT NULL,
    lead_id      text NOT NULL,
    rep_id       text NOT NULL,
    -- a personalised copy (a filled template) is stored on its own
    copy_key     text,
    copy_sha256  text,
    created_at   timestamptz NOT NULL,
    UNIQUE (item_id, version, lead_id, rep_id)
);
CREATE INDEX shares_lead ON {schema}.shares (lead_id);

-- Usage of each item: one row per event. 'shared' and 'viewed' now; collateral-use adds
-- its kinds (e.g. 'used_in_meeting') as rows of the same table.
CREATE TABLE {schema}.usage (
    usage_id text PRIMARY KEY,
    kind     text NOT NULL,
    item_id  text NOT NULL REFERENCES {schema}.items(item_id),
    version  int,
    share_id text REFERENCES {schema}.shares(share_id),
    lead_id  text,
    rep_id   text,
    at       timestamptz NOT NULL
);
CREATE INDEX usage_item ON {schema}.usage (item_id, kind, at);

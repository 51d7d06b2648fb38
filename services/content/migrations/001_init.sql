CREATE TABLE {schema}.items (
    item_id     text PRIMARY KEY,
    title       text NOT NULL,
    kind        text NOT NULL,
    url         text NOT NULL,
    summary     text NOT NULL DEFAULT '',
    segments    text[] NOT NULL DEFAULT '{}',
    stages      text[] NOT NULL DEFAULT '{}',
    status      text NOT NULL DEFAULT 'draft',
    owner       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
-- What content learns from lead-scored: each lead's segment, to suggest collateral.
CREATE TABLE {schema}.lead_segments (
    lead_id    text PRIMARY KEY,
    segment    text NOT NULL,
    grade      text NOT NULL,
    updated_at timestamptz NOT NULL
);

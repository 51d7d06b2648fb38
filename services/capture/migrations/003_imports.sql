-- List imports: the column mapping saved per source, each uploaded file (kept here,
-- with its sha256, before the upload is answered), its progress and its rejected rows.
CREATE TABLE {schema}.import_mappings (
    source     text PRIMARY KEY,
    columns    jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE {schema}.imports (
    import_id    text PRIMARY KEY,
    sha256       text NOT NULL,
    source       text NOT NULL,
    campaign     text NOT NULL,
    format       text NOT NULL,
    columns      jsonb NOT NULL,
    content      bytea NOT NULL,
    total_rows   integer NOT NULL,
    status       text NOT NULL DEFAULT 'running',   -- running | done
    position     integer NOT NULL DEFAULT 0,        -- rows committed (the next chunk starts here)
    accepted     integer NOT NULL DEFAULT 0,
    rejected     integer NOT NULL DEFAULT 0,
    new_leads    integer NOT NULL DEFAULT 0,
    known_people integer NOT NULL DEFAULT 0,
    duplicates   integer NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    UNIQUE (sha256, source, campaign)
);
CREATE INDEX imports_running ON {schema}.imports (created_at) WHERE status = 'running';

CREATE TABLE {schema}.import_rejections (
    import_id text NOT NULL REFERENCES {schema}.imports(import_id),
    line      integer NOT NULL,
    n         integer NOT NULL,
    field     text NOT NULL,
    reason    text NOT NULL,
    PRIMARY KEY (import_id, line, n)
);

-- The people an import has seen so far: a later row for one of them is a duplicate within the file.
CREATE TABLE {schema}.import_people (
    import_id  text NOT NULL,
    email_norm text NOT NULL,
    PRIMARY KEY (import_id, email_norm)
);

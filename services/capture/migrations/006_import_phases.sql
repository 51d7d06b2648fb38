-- An import validates its records first and captures its leads after: every record's fate
-- (accepted, rejected with its reason, a duplicate within the file) is known, and the
-- report downloadable, within seconds of the upload; the leads follow chunk by chunk.
-- ``position`` counts the records validated; each accepted one is kept here (its mapped
-- values, as in ``import_rows``) until it is captured; ``captured_line`` is the last one
-- captured. A person's first record is the one kept: a later one is a duplicate within
-- the file (the unique email, checked in the statement that keeps the record).
ALTER TABLE {schema}.imports ADD COLUMN IF NOT EXISTS captured_line integer NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS {schema}.import_accepted (
    import_id   text NOT NULL,
    line        integer NOT NULL,      -- the record's line in the file (its row key's)
    email_norm  text NOT NULL,
    fields      text NOT NULL,         -- its values by column, as a JSON object
    occurred_at timestamptz NOT NULL,
    PRIMARY KEY (import_id, line),
    UNIQUE (import_id, email_norm)
);

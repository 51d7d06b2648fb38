-- An import validates its records first and captures its leads after: every record's fate
-- (accepted, rejected with its reason, a duplicate within the file) is known, and the
-- report downloadable, within seconds of the upload; the leads follow chunk by chunk.
-- ``position`` counts the records validated; each accepted one is kept here as the lead
-- it makes until it is captured; ``captured_line`` is the last one captured.
ALTER TABLE {schema}.imports ADD COLUMN IF NOT EXISTS captured_line integer NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS {schema}.import_accepted (
    import_id   text NOT NULL,
    line        integer NOT NULL,      -- the record's line in the file (its row key's)
    lead        text NOT NULL,         -- the validated lead, as JSON
    occurred_at timestamptz NOT NULL,
    PRIMARY KEY (import_id, line)
);

-- Marketing's nurture pool: every lead that sales is not working, and why.
CREATE TABLE {schema}.pool (
    lead_id        text PRIMARY KEY,
    status         text NOT NULL,          -- nurturing | ready-for-sales | returned-to-sales
    track          text NOT NULL,
    reason         text NOT NULL,
    grade          text NOT NULL,
    score          double precision,
    segment        text,
    campaign       text,
    entered_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    times_entered  integer NOT NULL DEFAULT 1,
    last_rep_id    text,
    history        jsonb NOT NULL DEFAULT '[]'
);
CREATE INDEX pool_by_status ON {schema}.pool (status, track);

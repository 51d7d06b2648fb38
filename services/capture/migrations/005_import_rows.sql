-- List imports stream their file: its records are stored as they are read (COPY), the
-- file itself is never held whole, in memory or in a column. The worker reads the
-- records after the import's position, chunk by chunk, and they go when it is done.
CREATE TABLE IF NOT EXISTS {schema}.import_rows (
    import_id      text NOT NULL,
    n              integer NOT NULL,   -- the record's place in the file, from 0 (``position`` counts them)
    line           integer NOT NULL,   -- the line it starts on, for the report
    fields         text,               -- its values by column, as a JSON object; NULL when it is no record
    problem_field  text,
    problem_reason text,
    PRIMARY KEY (import_id, n)
);
-- (imports uploaded before kept their file in ``content``; new ones leave it empty. IF NOT
-- EXISTS: a database that ran this file as 004_import_rows.sql, its first name, keeps it.)
ALTER TABLE {schema}.imports ALTER COLUMN content DROP NOT NULL;

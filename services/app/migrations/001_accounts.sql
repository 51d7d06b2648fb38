-- The embedded accounts: who may sign in, with what roles. Only argon2 hashes of
-- passwords are kept. Replaced entirely when an OpenID Connect provider issues tokens.
CREATE TABLE {schema}.accounts (
    account_id     text PRIMARY KEY,
    username       text NOT NULL UNIQUE,          -- normalised (casefolded)
    name           text NOT NULL,
    password_hash  text NOT NULL,                 -- argon2id, PHC string
    roles          text[] NOT NULL,
    rep_id         text,
    teams          text[] NOT NULL DEFAULT '{}',
    disabled       boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL
);

-- Refresh tokens, by the SHA-256 of the token (the token itself is never stored). A
-- session is one chain (family_id): each use rotates the token (used_at), and a used
-- token presented again revokes the whole chain.
CREATE TABLE {schema}.refresh_tokens (
    token_hash   text PRIMARY KEY,
    family_id    text NOT NULL,
    account_id   text NOT NULL REFERENCES {schema}.accounts(account_id),
    issued_at    timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX refresh_tokens_family ON {schema}.refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expiry ON {schema}.refresh_tokens (expires_at);

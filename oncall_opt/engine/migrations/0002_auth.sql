-- Who may do what: a role per person, an optional console password (argon2 hash), and the
-- credentials that act as a person: API keys, console sessions and one-time sign-in links.
-- Only a hash of each secret is stored (SHA-256 of 256 random bits: nothing to brute-force).
ALTER TABLE users ADD COLUMN role VARCHAR NOT NULL DEFAULT 'member';
ALTER TABLE users ADD COLUMN password_hash VARCHAR;
CREATE SEQUENCE credentials_id_seq START 1;
CREATE TABLE credentials (
    id BIGINT PRIMARY KEY DEFAULT nextval('credentials_id_seq'),
    user_id BIGINT NOT NULL,
    kind VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    role VARCHAR NOT NULL,
    secret_hash VARCHAR NOT NULL UNIQUE,
    prefix VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);

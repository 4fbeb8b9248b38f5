-- What made each API key: the credential it was made with (a console session, another key),
-- or none (the daemon's token). A new password revokes every key a session made, so a key
-- minted with a stolen session does not outlive the password change.
ALTER TABLE credentials ADD COLUMN made_with BIGINT;
-- Failed password sign-ins, in the store so that a restart does not forget them: the throttle
-- counts them per source address, per handle from one address, and per handle.
CREATE SEQUENCE sign_in_failures_id_seq START 1;
CREATE TABLE sign_in_failures (
    id BIGINT PRIMARY KEY DEFAULT nextval('sign_in_failures_id_seq'),
    handle VARCHAR NOT NULL,
    address VARCHAR NOT NULL,
    failed_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX sign_in_failures_recent ON sign_in_failures (failed_at);

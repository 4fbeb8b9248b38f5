-- Finding cover (engine/cover.py): a stretch of a team's layer that needs someone else (the
-- person on call then is away, sick, or asked), the ranking of everyone who could take it
-- without breaking a rule, fairest first, each with why, and who was asked when and what they
-- answered. The first acceptance becomes an override (override_id).
CREATE SEQUENCE cover_requests_id_seq START 1;
CREATE TABLE cover_requests (
    id BIGINT PRIMARY KEY DEFAULT nextval('cover_requests_id_seq'),
    team_id BIGINT NOT NULL,
    layer INTEGER NOT NULL,
    for_user_id BIGINT NOT NULL,
    start_time TIMESTAMPTZ NOT NULL,
    end_time TIMESTAMPTZ NOT NULL,
    reason VARCHAR NOT NULL,
    note VARCHAR NOT NULL DEFAULT '',
    status VARCHAR NOT NULL,
    timeout_minutes INTEGER NOT NULL,
    deadline TIMESTAMPTZ NOT NULL,
    created_by BIGINT,
    created_at TIMESTAMPTZ NOT NULL,
    covered_by BIGINT,
    override_id BIGINT,
    decided_at TIMESTAMPTZ,
    outcome VARCHAR
);
CREATE INDEX cover_requests_by_team ON cover_requests (team_id, status);
CREATE TABLE cover_candidates (
    request_id BIGINT NOT NULL,
    rank INTEGER NOT NULL,
    user_id BIGINT NOT NULL,
    why VARCHAR NOT NULL,
    asked_at TIMESTAMPTZ,
    answer VARCHAR,
    answered_at TIMESTAMPTZ,
    PRIMARY KEY (request_id, rank)
);
-- The one-time accept and decline links sent to the person asked (like action_links: the
-- SHA-256 of a 256-bit secret, one request, one action, one person, used once, expiring).
CREATE SEQUENCE cover_links_id_seq START 1;
CREATE TABLE cover_links (
    id BIGINT PRIMARY KEY DEFAULT nextval('cover_links_id_seq'),
    token_hash VARCHAR NOT NULL UNIQUE,
    request_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    action VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ
);
-- An ask reaches the person through their contact methods as a notification of kind 'cover'.
ALTER TABLE notifications ADD COLUMN cover_request_id BIGINT;

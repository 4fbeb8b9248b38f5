-- Schedules people live with: overrides on top of the published roster (the final schedule),
-- swap requests, calendar feeds, and the notices already sent (handoffs, gaps), so that none
-- is sent twice, whatever restarts or how many daemons.
CREATE SEQUENCE overrides_id_seq START 1;
CREATE TABLE overrides (
    id BIGINT PRIMARY KEY DEFAULT nextval('overrides_id_seq'),
    team_id BIGINT NOT NULL,
    layer SMALLINT NOT NULL DEFAULT 1,
    user_id BIGINT NOT NULL,
    start_time TIMESTAMPTZ NOT NULL,
    end_time TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    created_by BIGINT,
    swap_id BIGINT,
    CHECK (end_time > start_time)
);
CREATE SEQUENCE swaps_id_seq START 1;
CREATE TABLE swaps (
    id BIGINT PRIMARY KEY DEFAULT nextval('swaps_id_seq'),
    team_id BIGINT NOT NULL,
    layer SMALLINT NOT NULL DEFAULT 1,
    from_user_id BIGINT NOT NULL,
    start_time TIMESTAMPTZ NOT NULL,
    end_time TIMESTAMPTZ NOT NULL,
    note VARCHAR NOT NULL DEFAULT '',
    status VARCHAR NOT NULL DEFAULT 'open',
    accepted_by BIGINT,
    override_id BIGINT,
    created_at TIMESTAMPTZ NOT NULL,
    decided_at TIMESTAMPTZ
);
CREATE SEQUENCE calendar_feeds_id_seq START 1;
CREATE TABLE calendar_feeds (
    id BIGINT PRIMARY KEY DEFAULT nextval('calendar_feeds_id_seq'),
    kind VARCHAR NOT NULL,
    subject_id BIGINT NOT NULL,
    token_hash VARCHAR NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
CREATE TABLE notices (
    kind VARCHAR NOT NULL,
    team_id BIGINT NOT NULL,
    layer SMALLINT NOT NULL,
    starts_at TIMESTAMPTZ NOT NULL,
    user_id BIGINT,
    sent_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (kind, team_id, layer, starts_at)
)

-- Heartbeat monitors: a cron job or a monitoring pipeline pings a secret URL at least every
-- interval. When no ping comes for the interval, an incident opens on the service (once, even
-- with several daemons: the UPDATE that sets alerted_at decides), and the next ping resolves it.
CREATE SEQUENCE heartbeats_id_seq START 1;
CREATE TABLE heartbeats (
    id BIGINT PRIMARY KEY DEFAULT nextval('heartbeats_id_seq'),
    service_id BIGINT NOT NULL,
    name VARCHAR NOT NULL,
    interval_seconds INTEGER NOT NULL,
    token_hash VARCHAR NOT NULL UNIQUE,
    last_ping_at TIMESTAMPTZ,
    alerted_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL
);

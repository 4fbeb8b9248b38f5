-- Maintenance windows: while one is on for a service (or for its whole team), the service's
-- alert events open no incident and page nobody. They are kept in maintenance_events, so
-- people can look at what came in afterwards.
CREATE SEQUENCE maintenance_windows_id_seq START 1;
CREATE TABLE maintenance_windows (
    id BIGINT PRIMARY KEY DEFAULT nextval('maintenance_windows_id_seq'),
    service_id BIGINT,
    team_id BIGINT,
    starts_at TIMESTAMPTZ NOT NULL,
    ends_at TIMESTAMPTZ NOT NULL,
    reason VARCHAR NOT NULL DEFAULT '',
    created_by BIGINT,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE SEQUENCE maintenance_events_id_seq START 1;
CREATE TABLE maintenance_events (
    id BIGINT PRIMARY KEY DEFAULT nextval('maintenance_events_id_seq'),
    window_id BIGINT NOT NULL,
    service_id BIGINT NOT NULL,
    summary VARCHAR NOT NULL,
    dedup_key VARCHAR,
    source VARCHAR,
    received_at TIMESTAMPTZ NOT NULL
);

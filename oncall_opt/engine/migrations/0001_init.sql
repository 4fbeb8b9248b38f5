-- Users, their on-call shifts (schedules), incidents, the Slack outbox and availability.
-- Portable SQL: sequences for ids, TIMESTAMPTZ in UTC.
CREATE SEQUENCE users_id_seq START 1;
CREATE TABLE users (
    id BIGINT PRIMARY KEY DEFAULT nextval('users_id_seq'),
    first_name VARCHAR NOT NULL,
    last_name VARCHAR NOT NULL,
    slack_handle VARCHAR NOT NULL,
    time_zone VARCHAR,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE SEQUENCE schedules_id_seq START 1;
CREATE TABLE schedules (
    id BIGINT PRIMARY KEY DEFAULT nextval('schedules_id_seq'),
    user_id BIGINT NOT NULL,
    layer SMALLINT NOT NULL DEFAULT 1,
    start_time TIMESTAMPTZ NOT NULL,
    end_time TIMESTAMPTZ NOT NULL,
    CHECK (end_time > start_time)
);
CREATE SEQUENCE incidents_id_seq START 1;
CREATE TABLE incidents (
    id BIGINT PRIMARY KEY DEFAULT nextval('incidents_id_seq'),
    body VARCHAR NOT NULL,
    dedup_key VARCHAR,
    status VARCHAR NOT NULL DEFAULT 'triggered',
    trigger_count INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMPTZ NOT NULL,
    last_triggered_at TIMESTAMPTZ NOT NULL,
    assigned_user_id BIGINT,
    acknowledged_at TIMESTAMPTZ,
    acknowledged_by BIGINT,
    resolved_at TIMESTAMPTZ,
    resolved_by BIGINT,
    last_reminded_at TIMESTAMPTZ,
    escalated_at TIMESTAMPTZ,
    escalated_to BIGINT
);
CREATE SEQUENCE outbox_id_seq START 1;
CREATE TABLE outbox (
    id BIGINT PRIMARY KEY DEFAULT nextval('outbox_id_seq'),
    kind VARCHAR NOT NULL,
    text VARCHAR NOT NULL,
    incident_ids VARCHAR,
    status VARCHAR NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    claimed_at TIMESTAMPTZ,
    sent_at TIMESTAMPTZ,
    last_error VARCHAR
);
CREATE TABLE availability (
    user_id BIGINT NOT NULL,
    day DATE NOT NULL,
    kind VARCHAR NOT NULL,
    PRIMARY KEY (user_id, day)
);

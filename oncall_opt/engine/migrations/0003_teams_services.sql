-- Teams with their own shifts and Slack channel, services with integration keys, escalation
-- policies, urgency and a timeline per incident. What existed before belongs to the "Default"
-- team (id 1), its "Default" service (id 1) and the "Default" escalation policy (id 1): the
-- primary on call at once, the secondary after 15 minutes, as before.
CREATE SEQUENCE teams_id_seq START 2;
CREATE TABLE teams (
    id BIGINT PRIMARY KEY DEFAULT nextval('teams_id_seq'),
    name VARCHAR NOT NULL UNIQUE,
    slack_webhook_url VARCHAR,
    created_at TIMESTAMPTZ NOT NULL
);
INSERT INTO teams (id, name, created_at) VALUES (1, 'Default', now());
CREATE TABLE team_members (
    team_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    PRIMARY KEY (team_id, user_id)
);
INSERT INTO team_members (team_id, user_id) SELECT 1, id FROM users;
ALTER TABLE schedules ADD COLUMN team_id BIGINT NOT NULL DEFAULT 1;
CREATE SEQUENCE escalation_policies_id_seq START 2;
CREATE TABLE escalation_policies (
    id BIGINT PRIMARY KEY DEFAULT nextval('escalation_policies_id_seq'),
    name VARCHAR NOT NULL UNIQUE,
    steps VARCHAR NOT NULL,
    repeats INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL
);
INSERT INTO escalation_policies (id, name, steps, repeats, created_at) VALUES (1, 'Default',
    '[{"DelayMinutes": 0, "Targets": [{"Type": "layer", "TeamId": 1, "Layer": 1}]}, {"DelayMinutes": 15, "Targets": [{"Type": "layer", "TeamId": 1, "Layer": 2}]}]',
    0, now());
CREATE SEQUENCE services_id_seq START 2;
CREATE TABLE services (
    id BIGINT PRIMARY KEY DEFAULT nextval('services_id_seq'),
    name VARCHAR NOT NULL UNIQUE,
    team_id BIGINT NOT NULL,
    escalation_policy_id BIGINT NOT NULL,
    key_hash VARCHAR NOT NULL UNIQUE,
    key_prefix VARCHAR NOT NULL,
    ack_timeout_minutes INTEGER,
    auto_resolve_minutes INTEGER,
    created_at TIMESTAMPTZ NOT NULL
);
-- The Default service has no usable key until one is made (POST /services/1/rotate-key): a
-- stored hash is 64 hex digits, which this placeholder can never equal.
INSERT INTO services (id, name, team_id, escalation_policy_id, key_hash, key_prefix, created_at)
    VALUES (1, 'Default', 1, 1, 'none: rotate to make a key', '', now());
ALTER TABLE incidents ADD COLUMN service_id BIGINT NOT NULL DEFAULT 1;
ALTER TABLE incidents ADD COLUMN urgency VARCHAR NOT NULL DEFAULT 'high';
ALTER TABLE incidents ADD COLUMN severity VARCHAR;
ALTER TABLE incidents ADD COLUMN source VARCHAR;
ALTER TABLE incidents ADD COLUMN details VARCHAR;
ALTER TABLE incidents ADD COLUMN escalation_step INTEGER NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN escalation_round INTEGER NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN next_escalation_at TIMESTAMPTZ;
ALTER TABLE incidents ADD COLUMN retrigger_at TIMESTAMPTZ;
-- Incidents go on where the fixed escalation left them: step 1 (the primary) was paged at the
-- trigger, and step 2 is due 15 minutes after it unless it happened already.
UPDATE incidents SET escalation_step = 1 WHERE escalated_at IS NULL;
UPDATE incidents SET next_escalation_at = created_at + INTERVAL '15 minutes'
    WHERE status = 'triggered' AND escalated_at IS NULL;
UPDATE incidents SET escalation_step = 2 WHERE escalated_at IS NOT NULL;
ALTER TABLE outbox ADD COLUMN team_id BIGINT;
CREATE SEQUENCE incident_log_id_seq START 1;
CREATE TABLE incident_log (
    id BIGINT PRIMARY KEY DEFAULT nextval('incident_log_id_seq'),
    incident_id BIGINT NOT NULL,
    logged_at TIMESTAMPTZ NOT NULL,
    kind VARCHAR NOT NULL,
    message VARCHAR NOT NULL,
    user_id BIGINT
);
INSERT INTO incident_log (incident_id, logged_at, kind, message, user_id)
    SELECT id, created_at, 'triggered', 'triggered', NULL FROM incidents;
INSERT INTO incident_log (incident_id, logged_at, kind, message, user_id)
    SELECT id, escalated_at, 'escalated', 'escalated to the secondary on call', escalated_to
    FROM incidents WHERE escalated_at IS NOT NULL;
INSERT INTO incident_log (incident_id, logged_at, kind, message, user_id)
    SELECT id, acknowledged_at, 'acknowledged', 'acknowledged', acknowledged_by
    FROM incidents WHERE acknowledged_at IS NOT NULL;
INSERT INTO incident_log (incident_id, logged_at, kind, message, user_id)
    SELECT id, resolved_at, 'resolved', 'resolved', resolved_by
    FROM incidents WHERE resolved_at IS NOT NULL;
CREATE INDEX incident_log_incident ON incident_log (incident_id);

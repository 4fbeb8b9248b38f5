-- Paging people where they are (engine/paging/): each person's contact methods (email, SMS,
-- voice, push, Slack, webhook, Apprise), their notification rules (which method how many
-- minutes after they are paged, per urgency), and every notification: one row per page of
-- one person through one method (or a verification code, or a test), delivered by the notify
-- job, durable like the outbox.
CREATE SEQUENCE contact_methods_id_seq START 1;
CREATE TABLE contact_methods (
    id BIGINT PRIMARY KEY DEFAULT nextval('contact_methods_id_seq'),
    user_id BIGINT NOT NULL,
    type VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    address VARCHAR NOT NULL,
    shown VARCHAR NOT NULL,
    secret VARCHAR,
    verified_at TIMESTAMPTZ,
    code_hash VARCHAR,
    code_expires_at TIMESTAMPTZ,
    code_attempts INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE SEQUENCE notification_rules_id_seq START 1;
CREATE TABLE notification_rules (
    id BIGINT PRIMARY KEY DEFAULT nextval('notification_rules_id_seq'),
    user_id BIGINT NOT NULL,
    contact_method_id BIGINT NOT NULL,
    delay_minutes INTEGER NOT NULL,
    urgency VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE SEQUENCE notifications_id_seq START 1;
CREATE TABLE notifications (
    id BIGINT PRIMARY KEY DEFAULT nextval('notifications_id_seq'),
    kind VARCHAR NOT NULL,
    incident_id BIGINT,
    user_id BIGINT NOT NULL,
    contact_method_id BIGINT NOT NULL,
    rule_id BIGINT,
    body VARCHAR NOT NULL DEFAULT '',
    status VARCHAR NOT NULL DEFAULT 'queued',
    due_at TIMESTAMPTZ NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error VARCHAR,
    claimed_at TIMESTAMPTZ,
    sent_at TIMESTAMPTZ,
    provider_id VARCHAR,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX notifications_due ON notifications (status, next_attempt_at);

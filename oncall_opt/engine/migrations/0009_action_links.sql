-- One-time action links in pages (acknowledge, resolve): each a random secret of 256 bits kept
-- as its SHA-256, for one incident, one action and the person it was sent to, used once,
-- expiring (engine/paging/actions.py).
CREATE SEQUENCE action_links_id_seq START 1;
CREATE TABLE action_links (
    id BIGINT PRIMARY KEY DEFAULT nextval('action_links_id_seq'),
    token_hash VARCHAR NOT NULL UNIQUE,
    incident_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    action VARCHAR NOT NULL,
    via VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ
);

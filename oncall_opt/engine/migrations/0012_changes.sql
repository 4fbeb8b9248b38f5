-- Change events (PagerDuty's Events API v2 /v2/change/enqueue): a deploy, a config change, a
-- build, told to a service. They open nothing: they are listed on the service and on its
-- incidents opened within the hour after (what changed just before it broke).
CREATE SEQUENCE changes_id_seq START 1;
CREATE TABLE changes (
    id BIGINT PRIMARY KEY DEFAULT nextval('changes_id_seq'),
    service_id BIGINT NOT NULL,
    summary VARCHAR NOT NULL,
    source VARCHAR,
    happened_at TIMESTAMPTZ NOT NULL,
    details VARCHAR,
    received_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX changes_by_service ON changes (service_id, happened_at);

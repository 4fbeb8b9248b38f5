-- Counting a service's recent first messages (to tell a storm) without reading the whole outbox.
CREATE INDEX outbox_service_recent ON outbox (service_id, created_at);

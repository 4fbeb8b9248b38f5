-- Storms cannot bury a page. A message's priority: 0 for the first message of a new incident
-- (and "could not reach anyone"), 1 for the rest (chatter). Delivery takes the lowest first.
-- service_id: the service a storm bundle is about, so there is one pending bundle per service.
ALTER TABLE outbox ADD COLUMN priority SMALLINT DEFAULT 1;
ALTER TABLE outbox ADD COLUMN service_id BIGINT;

-- When a provider reports that a notification reached the person (Twilio's status callback: a
-- text delivered, a call answered), the notification is `delivered` at this time.
ALTER TABLE notifications ADD COLUMN delivered_at TIMESTAMPTZ;

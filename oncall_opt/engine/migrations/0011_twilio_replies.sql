-- Texts that replied to a page, by Twilio's MessageSid: a reply acts once (Twilio's signature
-- has no timestamp, so a captured request could otherwise be sent again later).
CREATE TABLE twilio_replies (
    message_sid VARCHAR PRIMARY KEY,
    received_at TIMESTAMPTZ NOT NULL
);

-- A team's Slack channel as the Slack app sees it (a channel id such as C0123ABCD): with the
-- app's bot token set, the team's messages are posted there with Acknowledge and Resolve
-- buttons instead of through the team's incoming webhook.
ALTER TABLE teams ADD COLUMN slack_channel VARCHAR;

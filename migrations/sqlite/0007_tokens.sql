-- API tokens carry a name and an expiry. Tokens made before this migration expire 90 days
-- after they were made (the default lifetime of a new token).
ALTER TABLE api_tokens ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE api_tokens ADD COLUMN expires_at TEXT;
-- The same fixed-width text as every stored time: seconds moved, microseconds kept.
UPDATE api_tokens SET expires_at = strftime('%Y-%m-%dT%H:%M:%S', created_at, '+90 days') || substr(created_at, 20);

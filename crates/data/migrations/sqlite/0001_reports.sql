CREATE TABLE IF NOT EXISTS reports (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    symbol      TEXT      NOT NULL,
    timeframe   TEXT      NOT NULL,
    title       TEXT      NOT NULL,
    body        TEXT      NOT NULL,
    created_at  TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

CREATE INDEX IF NOT EXISTS reports_created_at_idx ON reports (created_at DESC, id DESC);

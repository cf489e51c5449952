-- The host file: state only the host reads and writes, in a database file
-- component connections never see. Attached to the host's connections as
-- schema `strata`.

-- Content-addressed component binaries: a version is its SHA-256.
CREATE TABLE IF NOT EXISTS component_blobs (
    hash        TEXT      PRIMARY KEY,
    bytes       BLOB      NOT NULL,
    size        INTEGER   NOT NULL,
    created_at  TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

-- Append-only deployment log; a component's active version is its newest row.
CREATE TABLE IF NOT EXISTS deployments (
    id          INTEGER   PRIMARY KEY AUTOINCREMENT,
    component   TEXT      NOT NULL,
    action      TEXT      NOT NULL CHECK (action IN ('deploy', 'rollback', 'remove')),
    hash        TEXT      REFERENCES component_blobs (hash),
    source      TEXT      NOT NULL,
    created_at  TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

CREATE INDEX IF NOT EXISTS deployments_component_idx ON deployments (component, id DESC);

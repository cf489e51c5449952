-- Content-addressed component binaries: a version is its SHA-256.
CREATE TABLE IF NOT EXISTS component_blobs (
    hash        TEXT        PRIMARY KEY,
    bytes       BYTEA       NOT NULL,
    size        BIGINT      NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Append-only deployment log; a component's active version is its newest row.
CREATE TABLE IF NOT EXISTS deployments (
    id          BIGSERIAL   PRIMARY KEY,
    component   TEXT        NOT NULL,
    action      TEXT        NOT NULL CHECK (action IN ('deploy', 'rollback', 'remove')),
    hash        TEXT        REFERENCES component_blobs (hash),
    source      TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS deployments_component_idx ON deployments (component, id DESC);

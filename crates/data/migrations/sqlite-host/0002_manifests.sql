-- Deployed manifests: the app's shape (components, grants, routes, cache
-- families) as a versioned object. The active manifest is the newest row;
-- file sources are stored as `sha256:HASH` references to component_blobs.
CREATE TABLE IF NOT EXISTS manifests (
    id          INTEGER   PRIMARY KEY AUTOINCREMENT,
    hash        TEXT      NOT NULL,
    body        TEXT      NOT NULL,
    action      TEXT      NOT NULL CHECK (action IN ('seed', 'deploy', 'rollback')),
    source      TEXT      NOT NULL,
    created_at  TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);

-- What each running instance serves, refreshed by its sync loop, for
-- `strata status`.
CREATE TABLE IF NOT EXISTS instances (
    id             TEXT    PRIMARY KEY,
    manifest_id    INTEGER NOT NULL,
    deployment_id  INTEGER NOT NULL,
    state          TEXT    NOT NULL,
    seen_at        INTEGER NOT NULL
);

-- Deployed manifests: the app's shape (components, grants, routes, cache
-- families) as a versioned object. The active manifest is the newest row;
-- file sources are stored as `sha256:HASH` references to component_blobs.
CREATE TABLE IF NOT EXISTS strata.manifests (
    id          BIGSERIAL   PRIMARY KEY,
    hash        TEXT        NOT NULL,
    body        TEXT        NOT NULL,
    action      TEXT        NOT NULL CHECK (action IN ('seed', 'deploy', 'rollback')),
    source      TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- What each running instance serves, refreshed by its sync loop, for
-- `strata status`. Rows of instances gone quiet are pruned by the others.
CREATE TABLE IF NOT EXISTS strata.instances (
    id             TEXT   PRIMARY KEY,
    manifest_id    BIGINT NOT NULL,
    deployment_id  BIGINT NOT NULL,
    state          TEXT   NOT NULL,
    seen_at        BIGINT NOT NULL
);

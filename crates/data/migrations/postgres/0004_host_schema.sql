-- Host state moves into its own schema, out of component SQL's reach: the
-- login roles component statements run as have no rights on schema
-- `strata` (host/src/data/postgres/roles.rs). Rows, indexes, constraints and
-- owned sequences move with the tables.
CREATE SCHEMA IF NOT EXISTS strata;
REVOKE ALL ON SCHEMA strata FROM PUBLIC;

ALTER TABLE public.component_blobs SET SCHEMA strata;
ALTER TABLE public.deployments SET SCHEMA strata;

-- Passwords of the component login roles: generated once by the first
-- instance to start, read by every instance sharing this database.
CREATE TABLE IF NOT EXISTS strata.component_roles (
    role        TEXT        PRIMARY KEY,
    password    TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

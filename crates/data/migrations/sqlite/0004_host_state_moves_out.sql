-- The deployment log and component blobs live in the host file now
-- (<name>.host.db beside this one), which component connections cannot
-- attach. The host copied their rows there before this migration ran
-- (host/src/data/sqlite/mod.rs, move_host_rows).
DROP TABLE IF EXISTS deployments;
DROP TABLE IF EXISTS component_blobs;

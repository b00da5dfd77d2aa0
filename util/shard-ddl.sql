-- The shard map's tables (docs/shard.md, "The map in PostgreSQL"), with
-- the default prefix astro_shard: what the demo (util/demo.sh), the
-- bench (bench/shard.sh) and make stress (stress/lib-servers.sh) create
-- before their own rows.

CREATE TABLE astro_shard_maps (
    name text PRIMARY KEY,
    version bigint NOT NULL DEFAULT 1);

CREATE TABLE astro_shard_shards (
    map text NOT NULL REFERENCES astro_shard_maps (name) ON DELETE CASCADE,
    name text NOT NULL,
    upstream text NOT NULL,
    read_upstream text,
    weight integer NOT NULL DEFAULT 1,
    is_default boolean NOT NULL DEFAULT false,
    PRIMARY KEY (map, name));

CREATE TABLE astro_shard_entries (
    map text NOT NULL REFERENCES astro_shard_maps (name) ON DELETE CASCADE,
    from_value text,   -- hash: first slot; range: lower bound, NULL open
    to_value text,     -- hash: slot after the last; range: upper, NULL open
    value text,        -- list
    owner text NOT NULL,
    target text,
    state text NOT NULL DEFAULT 'stable' CHECK (state IN
        ('stable', 'copying', 'reads_new', 'frozen', 'switched')));

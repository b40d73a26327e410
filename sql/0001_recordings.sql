-- 0001: stations, cameras and the recording index.

-- GiST over (camera_id, time range) for "recordings of camera X overlapping
-- [from, to)"; btree_gist is a trusted contrib extension.
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE stations (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code        text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per camera; code is the directory name on the recorders. A code the
-- indexer meets before an admin registered it gets a row with registered =
-- false, so its recordings are kept and admins can complete it.
CREATE TABLE cameras (
    id              integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code            text NOT NULL UNIQUE CHECK (length(code) BETWEEN 1 AND 128),
    name            text,
    station_id      integer REFERENCES stations (id),
    owner_kind      text CHECK (owner_kind IN ('police', 'household', 'business', 'agency')),
    owner_name      text,
    owner_phone     text,
    lat             double precision CHECK (lat BETWEEN -90 AND 90),
    lon             double precision CHECK (lon BETWEEN -180 AND 180),
    address         text,
    timezone        text,
    retention_days  integer CHECK (retention_days > 0),
    registered      boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((lat IS NULL) = (lon IS NULL))
);

-- One row per recording file. keyframes is the compact index of
-- common/kfindex.h: LEB128 varints of millisecond gaps between keyframes,
-- counted from the first video frame (start_time).
CREATE TABLE recordings (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    camera_id       integer NOT NULL REFERENCES cameras (id),
    path            text NOT NULL,
    size            bigint NOT NULL CHECK (size >= 0),
    mtime           timestamptz NOT NULL,
    status          text NOT NULL CHECK (status IN
                        ('ok', 'truncated', 'corrupt', 'empty', 'not_video', 'unreadable', 'deleted')),
    error           text,
    container       text,
    codec           text,
    width           integer,
    height          integer,
    fps             numeric(10, 4),
    has_audio       boolean,
    start_time      timestamptz,
    end_time        timestamptz,
    time_source     text CHECK (time_source IN ('name', 'creation_time', 'mtime')),
    keyframe_count  integer NOT NULL DEFAULT 0 CHECK (keyframe_count >= 0),
    keyframes       bytea,
    bytes_read      bigint,
    indexed_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz,
    UNIQUE (camera_id, path),
    CHECK (end_time >= start_time),
    CHECK (status NOT IN ('ok', 'truncated') OR (start_time IS NOT NULL AND end_time IS NOT NULL)),
    CHECK ((status = 'deleted') = (deleted_at IS NOT NULL)),
    CHECK (keyframe_count = 0 OR keyframes IS NOT NULL),
    CHECK (length(keyframes) <= 4 * keyframe_count)
);

CREATE INDEX recordings_camera_time ON recordings
    USING gist (camera_id, tstzrange(start_time, end_time, '[)'))
    WHERE end_time IS NOT NULL;

-- Keyframe offsets in milliseconds from the first frame, decoded from the
-- compact index (the same format as cl_kfindex_decode).
CREATE FUNCTION cl_keyframe_offsets(idx bytea) RETURNS SETOF bigint
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    i     integer := 0;
    n     integer := length(idx);
    acc   bigint := 0;
    v     bigint;
    shift integer;
    b     integer;
BEGIN
    WHILE i < n LOOP
        v := 0;
        shift := 0;
        LOOP
            b := get_byte(idx, i);
            i := i + 1;
            v := v | ((b & 127)::bigint << shift);
            shift := shift + 7;
            EXIT WHEN b < 128;
        END LOOP;
        acc := acc + v;
        RETURN NEXT acc;
    END LOOP;
END
$$;

CREATE VIEW recording_keyframes AS
SELECT r.id AS recording_id,
       c.code AS camera_code,
       r.path,
       r.start_time + k.offset_ms * interval '1 millisecond' AS at
FROM recordings r
JOIN cameras c ON c.id = r.camera_id
CROSS JOIN LATERAL cl_keyframe_offsets(r.keyframes) AS k(offset_ms)
WHERE r.start_time IS NOT NULL;

-- The indexer loads the rows under one recording root by path prefix.
CREATE INDEX recordings_path ON recordings (path COLLATE "C");

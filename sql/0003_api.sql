-- 0003: the functions behind the HTTP API. Each cl_api_* function takes the
-- acting user's id first and returns (status, body): the HTTP status and the
-- JSON body. Bad input raises CL400/CL403/CL404/CL409 with DETAIL set to the
-- error code, so camledger-server maps every refusal the same way.

CREATE FUNCTION cl_ts(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

CREATE FUNCTION cl_fail(p_status integer, p_code text, p_message text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'CL' || p_status::text, MESSAGE = p_message, DETAIL = p_code;
END
$$;

-- RFC 3339 date-time (the offset required) to timestamptz; NULL stays NULL.
CREATE FUNCTION cl_parse_time(p_value text, p_field text) RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_value IS NULL THEN
        RETURN NULL;
    END IF;
    -- A '+' typed into a query string arrives as a space (form encoding):
    -- "21:40:00 07:00" can only have meant "21:40:00+07:00".
    p_value := regexp_replace(p_value, ' (\d{2}:\d{2})$', '+\1');
    IF p_value !~ '^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$' THEN
        PERFORM cl_fail(400, 'invalid_time', p_field || ': not an RFC 3339 date-time with an offset, such as 2026-11-21T21:40:00+07:00');
    END IF;
    BEGIN
        RETURN p_value::timestamptz;
    EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format OR data_exception THEN
        PERFORM cl_fail(400, 'invalid_time', p_field || ': no such date or time: ' || p_value);
    END;
    RETURN NULL;
END
$$;

CREATE FUNCTION cl_parse_int(p_value text, p_field text, p_min bigint, p_max bigint, p_default bigint)
RETURNS bigint LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_value IS NULL OR p_value = '' THEN
        RETURN p_default;
    END IF;
    IF p_value !~ '^-?\d{1,18}$' OR p_value::bigint < p_min OR p_value::bigint > p_max THEN
        PERFORM cl_fail(400, 'invalid_parameter',
                        format('%s: a whole number from %s to %s', p_field, p_min, p_max));
    END IF;
    RETURN p_value::bigint;
END
$$;

-- A checked time window [from, to).
CREATE FUNCTION cl_window(p_from text, p_to text, p_max_secs bigint, OUT w_from timestamptz,
                          OUT w_to timestamptz)
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_from IS NULL OR p_to IS NULL THEN
        PERFORM cl_fail(400, 'missing_parameter', 'from and to are both required');
    END IF;
    w_from := cl_parse_time(p_from, 'from');
    w_to := cl_parse_time(p_to, 'to');
    IF w_to <= w_from THEN
        PERFORM cl_fail(400, 'invalid_window', 'to must be later than from');
    END IF;
    IF extract(epoch FROM w_to - w_from) > p_max_secs THEN
        PERFORM cl_fail(400, 'window_too_long',
                        format('the window may span at most %s seconds', p_max_secs));
    END IF;
END
$$;

-- Typed access to a JSON body's fields.
CREATE FUNCTION cl_json_text(p_body jsonb, p_field text, p_required boolean, p_max integer)
RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v jsonb := p_body -> p_field;
BEGIN
    IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
        IF p_required THEN
            PERFORM cl_fail(400, 'missing_field', p_field || ': required');
        END IF;
        RETURN NULL;
    END IF;
    IF jsonb_typeof(v) <> 'string' THEN
        PERFORM cl_fail(400, 'invalid_field', p_field || ': must be a string');
    END IF;
    IF length(v #>> '{}') = 0 AND p_required THEN
        PERFORM cl_fail(400, 'invalid_field', p_field || ': must not be empty');
    END IF;
    IF length(v #>> '{}') > p_max THEN
        PERFORM cl_fail(400, 'invalid_field', format('%s: at most %s characters', p_field, p_max));
    END IF;
    RETURN v #>> '{}';
END
$$;

CREATE FUNCTION cl_json_number(p_body jsonb, p_field text, p_min double precision,
                               p_max double precision, p_integer boolean)
RETURNS double precision LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v jsonb := p_body -> p_field;
    n double precision;
BEGIN
    IF v IS NULL OR jsonb_typeof(v) = 'null' THEN
        RETURN NULL;
    END IF;
    IF jsonb_typeof(v) <> 'number' THEN
        PERFORM cl_fail(400, 'invalid_field', p_field || ': must be a number');
    END IF;
    n := (v #>> '{}')::double precision;
    IF n < p_min OR n > p_max OR (p_integer AND n <> trunc(n)) THEN
        PERFORM cl_fail(400, 'invalid_field', format('%s: must be %s from %s to %s', p_field,
                        CASE WHEN p_integer THEN 'a whole number' ELSE 'a number' END, p_min, p_max));
    END IF;
    RETURN n;
END
$$;

CREATE FUNCTION cl_json_only(p_body jsonb, p_allowed text[]) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    k text;
BEGIN
    IF p_body IS NULL OR jsonb_typeof(p_body) <> 'object' THEN
        PERFORM cl_fail(400, 'invalid_body', 'the body must be a JSON object');
    END IF;
    SELECT key INTO k FROM jsonb_object_keys(p_body) AS key WHERE key <> ALL (p_allowed) LIMIT 1;
    IF k IS NOT NULL THEN
        PERFORM cl_fail(400, 'unknown_field', k || ': unknown field');
    END IF;
END
$$;

CREATE FUNCTION cl_user_station(p_user integer) RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT station_id FROM users WHERE id = p_user
$$;

CREATE FUNCTION cl_station_id(p_code text) RETURNS integer
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v integer;
BEGIN
    SELECT id INTO v FROM stations WHERE code = p_code;
    IF v IS NULL THEN
        PERFORM cl_fail(400, 'unknown_station', 'station ' || p_code || ': no such station');
    END IF;
    RETURN v;
END
$$;

---------------------------------------------------------------- cameras

CREATE FUNCTION cl_camera_json(c cameras) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'code', c.code, 'name', c.name,
        'station', (SELECT code FROM stations WHERE id = c.station_id),
        'owner_kind', c.owner_kind, 'owner_name', c.owner_name, 'owner_phone', c.owner_phone,
        'lat', c.lat, 'lon', c.lon, 'address', c.address,
        'retention_days', c.retention_days, 'timezone', c.timezone,
        'registered', c.registered,
        'created_at', cl_ts(c.created_at), 'updated_at', cl_ts(c.updated_at))
$$;

-- Checks a camera's fields (all of them when registering, those present when
-- patching) and returns the station id they name (or NULL when absent).
CREATE FUNCTION cl_camera_check(p_actor integer, p_body jsonb, p_register boolean)
RETURNS integer LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_code text;
    v_station integer;
    v_kind text;
    v_phone text;
    v_tz text;
    v_actor_station integer := cl_user_station(p_actor);
BEGIN
    PERFORM cl_json_only(p_body, CASE WHEN p_register THEN
        ARRAY['code', 'name', 'station', 'owner_kind', 'owner_name', 'owner_phone', 'lat', 'lon',
              'address', 'retention_days', 'timezone'] ELSE
        ARRAY['name', 'station', 'owner_kind', 'owner_name', 'owner_phone', 'lat', 'lon',
              'address', 'retention_days', 'timezone'] END);
    IF p_register THEN
        v_code := cl_json_text(p_body, 'code', true, 128);
        IF v_code ~ '[/[:cntrl:]]' OR v_code IN ('.', '..') THEN
            PERFORM cl_fail(400, 'invalid_field', 'code: a camera code is one directory name: no "/", no control characters');
        END IF;
    END IF;
    PERFORM cl_json_text(p_body, 'name', p_register, 200);
    IF p_register OR p_body ? 'station' THEN
        v_station := cl_station_id(cl_json_text(p_body, 'station', true, 64));
        IF v_actor_station IS NOT NULL AND v_station <> v_actor_station THEN
            PERFORM cl_fail(403, 'other_station', 'station: admins register cameras of their own station only');
        END IF;
    END IF;
    v_kind := cl_json_text(p_body, 'owner_kind', p_register, 16);
    IF v_kind IS NOT NULL AND v_kind NOT IN ('police', 'household', 'business', 'agency') THEN
        PERFORM cl_fail(400, 'invalid_field', 'owner_kind: one of police, household, business, agency');
    END IF;
    PERFORM cl_json_text(p_body, 'owner_name', false, 200);
    v_phone := cl_json_text(p_body, 'owner_phone', false, 32);
    IF v_phone IS NOT NULL AND v_phone !~ '^\+?[0-9][0-9 ().-]{2,31}$' THEN
        PERFORM cl_fail(400, 'invalid_field', 'owner_phone: digits, spaces, + ( ) . - only');
    END IF;
    PERFORM cl_json_number(p_body, 'lat', -90, 90, false);
    PERFORM cl_json_number(p_body, 'lon', -180, 180, false);
    -- Both or neither, and both set or both cleared: a camera has a
    -- position or none.
    IF (p_body ? 'lat') <> (p_body ? 'lon') OR
       (p_body ? 'lat' AND jsonb_typeof(p_body -> 'lat') <> 'null') <>
       (p_body ? 'lon' AND jsonb_typeof(p_body -> 'lon') <> 'null') THEN
        PERFORM cl_fail(400, 'invalid_field', 'lat and lon go together');
    END IF;
    PERFORM cl_json_text(p_body, 'address', false, 500);
    PERFORM cl_json_number(p_body, 'retention_days', 1, 3650, true);
    v_tz := cl_json_text(p_body, 'timezone', false, 64);
    IF v_tz IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = v_tz) THEN
        PERFORM cl_fail(400, 'invalid_field', 'timezone: not an IANA time zone: ' || v_tz);
    END IF;
    RETURN v_station;
END
$$;

-- Registers one camera (p_body checked by cl_camera_check). A camera the
-- indexer created unregistered is completed and keeps its recordings.
CREATE FUNCTION cl_camera_register_one(p_actor integer, p_body jsonb, p_source text)
RETURNS cameras LANGUAGE plpgsql AS $$
DECLARE
    v_station integer := cl_camera_check(p_actor, p_body, true);
    c cameras;
BEGIN
    INSERT INTO cameras AS t (code, name, station_id, owner_kind, owner_name, owner_phone, lat, lon,
                              address, retention_days, timezone, registered)
    VALUES (p_body ->> 'code', p_body ->> 'name', v_station, p_body ->> 'owner_kind',
            p_body ->> 'owner_name', p_body ->> 'owner_phone', (p_body ->> 'lat')::float8,
            (p_body ->> 'lon')::float8, p_body ->> 'address', (p_body ->> 'retention_days')::numeric::integer,
            p_body ->> 'timezone', true)
    ON CONFLICT (code) DO UPDATE SET
        name = EXCLUDED.name, station_id = EXCLUDED.station_id, owner_kind = EXCLUDED.owner_kind,
        owner_name = EXCLUDED.owner_name, owner_phone = EXCLUDED.owner_phone, lat = EXCLUDED.lat,
        lon = EXCLUDED.lon, address = EXCLUDED.address, retention_days = EXCLUDED.retention_days,
        timezone = EXCLUDED.timezone, registered = true, updated_at = now()
    WHERE t.registered = false
    RETURNING * INTO c;
    IF c.id IS NULL THEN
        PERFORM cl_fail(409, 'camera_exists', 'camera ' || (p_body ->> 'code') || ' is already registered');
    END IF;
    PERFORM cl_audit(p_actor, 'camera.registered', 'camera', c.code,
                     jsonb_build_object('source', p_source, 'station',
                         (SELECT code FROM stations WHERE id = c.station_id)), c.id);
    RETURN c;
END
$$;

CREATE FUNCTION cl_api_camera_register(p_actor integer, p_body jsonb,
                                       OUT status integer, OUT body jsonb)
LANGUAGE plpgsql AS $$
BEGIN
    status := 201;
    body := cl_camera_json(cl_camera_register_one(p_actor, p_body, 'api'));
END
$$;

-- p_rows: [{"line": N, "fields": {...}}, ...]. All rows or none: every row is
-- checked first and every problem reported with its line.
CREATE FUNCTION cl_api_camera_import(p_actor integer, p_rows jsonb,
                                     OUT status integer, OUT body jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    r jsonb;
    errors jsonb := '[]';
    seen text[] := '{}';
    v_code text;
    n integer := 0;
BEGIN
    IF jsonb_typeof(p_rows) <> 'array' OR jsonb_array_length(p_rows) = 0 THEN
        PERFORM cl_fail(400, 'empty_import', 'the CSV holds no camera rows');
    END IF;
    FOR r IN SELECT * FROM jsonb_array_elements(p_rows) LOOP
        BEGIN
            PERFORM cl_camera_check(p_actor, r -> 'fields', true);
            v_code := r -> 'fields' ->> 'code';
            IF v_code = ANY (seen) THEN
                PERFORM cl_fail(400, 'duplicate_code', 'code: ' || v_code || ' appears twice in the file');
            END IF;
            seen := seen || v_code;
            IF EXISTS (SELECT 1 FROM cameras WHERE code = v_code AND registered) THEN
                PERFORM cl_fail(409, 'camera_exists', 'code: ' || v_code || ' is already registered');
            END IF;
        EXCEPTION WHEN SQLSTATE 'CL400' OR SQLSTATE 'CL403' OR SQLSTATE 'CL409' THEN
            DECLARE
                msg text;
                code text;
            BEGIN
                GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, code = PG_EXCEPTION_DETAIL;
                errors := errors || jsonb_build_object('line', (r ->> 'line')::integer,
                                                       'code', code, 'message', msg);
            END;
        END;
    END LOOP;
    IF jsonb_array_length(errors) > 0 THEN
        status := 400;
        body := jsonb_build_object('error', jsonb_build_object('code', 'invalid_rows',
            'message', format('%s of %s rows are invalid; nothing was imported',
                              jsonb_array_length(errors), jsonb_array_length(p_rows)),
            'lines', errors));
        RETURN;
    END IF;
    FOR r IN SELECT * FROM jsonb_array_elements(p_rows) LOOP
        PERFORM cl_camera_register_one(p_actor, r -> 'fields', 'csv');
        n := n + 1;
    END LOOP;
    status := 201;
    body := jsonb_build_object('imported', n);
END
$$;

CREATE FUNCTION cl_api_camera_update(p_actor integer, p_code text, p_body jsonb,
                                     OUT status integer, OUT body jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    c cameras;
    v_station integer;
    v_actor_station integer := cl_user_station(p_actor);
BEGIN
    SELECT * INTO c FROM cameras WHERE code = p_code FOR UPDATE;
    IF c.id IS NULL THEN
        PERFORM cl_fail(404, 'camera_not_found', 'camera ' || p_code || ': no such camera');
    END IF;
    IF v_actor_station IS NOT NULL AND c.station_id IS DISTINCT FROM v_actor_station
       AND c.station_id IS NOT NULL THEN
        PERFORM cl_fail(403, 'other_station', 'this camera belongs to another station');
    END IF;
    v_station := cl_camera_check(p_actor, p_body, false);
    IF p_body = '{}' THEN
        PERFORM cl_fail(400, 'invalid_body', 'nothing to change: give at least one field');
    END IF;
    UPDATE cameras SET
        name = CASE WHEN p_body ? 'name' THEN p_body ->> 'name' ELSE name END,
        station_id = CASE WHEN p_body ? 'station' THEN v_station ELSE station_id END,
        owner_kind = CASE WHEN p_body ? 'owner_kind' THEN p_body ->> 'owner_kind' ELSE owner_kind END,
        owner_name = CASE WHEN p_body ? 'owner_name' THEN p_body ->> 'owner_name' ELSE owner_name END,
        owner_phone = CASE WHEN p_body ? 'owner_phone' THEN p_body ->> 'owner_phone' ELSE owner_phone END,
        lat = CASE WHEN p_body ? 'lat' THEN (p_body ->> 'lat')::float8 ELSE lat END,
        lon = CASE WHEN p_body ? 'lon' THEN (p_body ->> 'lon')::float8 ELSE lon END,
        address = CASE WHEN p_body ? 'address' THEN p_body ->> 'address' ELSE address END,
        retention_days = CASE WHEN p_body ? 'retention_days'
                              THEN (p_body ->> 'retention_days')::numeric::integer ELSE retention_days END,
        timezone = CASE WHEN p_body ? 'timezone' THEN p_body ->> 'timezone' ELSE timezone END,
        updated_at = now()
    WHERE id = c.id RETURNING * INTO c;
    IF c.name IS NULL OR c.station_id IS NULL OR c.owner_kind IS NULL THEN
        PERFORM cl_fail(400, 'incomplete', 'name, station and owner_kind cannot be removed');
    END IF;
    PERFORM cl_audit(p_actor, 'camera.updated', 'camera', c.code,
                     jsonb_build_object('fields', (SELECT jsonb_agg(k ORDER BY k) FROM jsonb_object_keys(p_body) k)),
                     c.id);
    status := 200;
    body := cl_camera_json(c);
END
$$;

CREATE FUNCTION cl_api_camera_get(p_code text, OUT status integer, OUT body jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    c cameras;
BEGIN
    SELECT * INTO c FROM cameras WHERE code = p_code;
    IF c.id IS NULL THEN
        PERFORM cl_fail(404, 'camera_not_found', 'camera ' || p_code || ': no such camera');
    END IF;
    status := 200;
    body := cl_camera_json(c) || jsonb_build_object('coverage', (
        SELECT jsonb_build_object(
            'recordings', count(*),
            'ok', count(*) FILTER (WHERE r.status = 'ok'),
            'truncated', count(*) FILTER (WHERE r.status = 'truncated'),
            'deleted', count(*) FILTER (WHERE r.status = 'deleted'),
            'broken', count(*) FILTER (WHERE r.status IN ('corrupt', 'empty', 'not_video', 'unreadable')),
            'first', cl_ts(min(r.start_time) FILTER (WHERE r.status IN ('ok', 'truncated'))),
            'last', cl_ts(max(r.end_time) FILTER (WHERE r.status IN ('ok', 'truncated'))),
            'seconds', round(coalesce(sum(extract(epoch FROM r.end_time - r.start_time))
                                      FILTER (WHERE r.status IN ('ok', 'truncated')), 0), 3))
        FROM recordings r WHERE r.camera_id = c.id));
END
$$;

CREATE FUNCTION cl_api_camera_list(p_station text, p_q text, p_registered text, p_near text,
                                   p_radius text, p_limit text, p_offset text,
                                   OUT status integer, OUT body jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_limit bigint := cl_parse_int(p_limit, 'limit', 1, 500, 50);
    v_offset bigint := cl_parse_int(p_offset, 'offset', 0, 1000000000, 0);
    v_radius double precision;
    v_lat double precision;
    v_lon double precision;
    v_reg boolean;
    v_station integer;
    v_like text;
BEGIN
    IF p_station IS NOT NULL THEN
        v_station := cl_station_id(p_station);
    END IF;
    IF p_registered IS NOT NULL THEN
        IF p_registered NOT IN ('true', 'false') THEN
            PERFORM cl_fail(400, 'invalid_parameter', 'registered: true or false');
        END IF;
        v_reg := p_registered::boolean;
    END IF;
    IF p_near IS NOT NULL OR p_radius IS NOT NULL THEN
        IF p_near IS NULL OR p_radius IS NULL THEN
            PERFORM cl_fail(400, 'invalid_parameter', 'near=LAT,LON and radius_m go together');
        END IF;
        IF p_near !~ '^-?\d{1,3}(\.\d+)?,-?\d{1,3}(\.\d+)?$' THEN
            PERFORM cl_fail(400, 'invalid_parameter', 'near: LAT,LON in decimal degrees');
        END IF;
        v_lat := split_part(p_near, ',', 1)::float8;
        v_lon := split_part(p_near, ',', 2)::float8;
        IF v_lat NOT BETWEEN -90 AND 90 OR v_lon NOT BETWEEN -180 AND 180 THEN
            PERFORM cl_fail(400, 'invalid_parameter', 'near: latitude -90..90, longitude -180..180');
        END IF;
        v_radius := cl_parse_int(p_radius, 'radius_m', 1, 100000, NULL);
    END IF;
    IF p_q IS NOT NULL THEN
        v_like := '%' || replace(replace(replace(p_q, '\', '\\'), '%', '\%'), '_', '\_') || '%';
    END IF;
    WITH hits AS (
        SELECT c, CASE WHEN v_radius IS NOT NULL
                       THEN cl_earth_distance(v_lat, v_lon, c.lat, c.lon) END AS dist
          FROM cameras c
         WHERE (v_station IS NULL OR c.station_id = v_station)
           AND (v_reg IS NULL OR c.registered = v_reg)
           AND (v_like IS NULL OR c.code ILIKE v_like OR c.name ILIKE v_like OR c.address ILIKE v_like)
           AND (v_radius IS NULL OR (c.lat IS NOT NULL
                AND cube_enlarge(cl_earth_point(v_lat, v_lon), v_radius, 3) @> cl_earth_point(c.lat, c.lon)
                AND cl_earth_distance(v_lat, v_lon, c.lat, c.lon) <= v_radius))
    )
    SELECT jsonb_build_object(
        'cameras', coalesce((SELECT jsonb_agg(cl_camera_json(h.c) ||
                                 CASE WHEN v_radius IS NOT NULL
                                      THEN jsonb_build_object('distance_m', round(h.dist::numeric, 1))
                                      ELSE '{}' END ORDER BY h.dist NULLS LAST, (h.c).code)
                             FROM (SELECT * FROM hits ORDER BY dist NULLS LAST, (c).code
                                   LIMIT v_limit OFFSET v_offset) h), '[]'),
        'total', (SELECT count(*) FROM hits), 'limit', v_limit, 'offset', v_offset)
    INTO body;
    status := 200;
END
$$;

---------------------------------------------------------------- footage

CREATE FUNCTION cl_camera_id(p_code text) RETURNS integer
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v integer;
BEGIN
    SELECT id INTO v FROM cameras WHERE code = p_code;
    IF v IS NULL THEN
        PERFORM cl_fail(404, 'camera_not_found', 'camera ' || p_code || ': no such camera');
    END IF;
    RETURN v;
END
$$;

-- What the index knows of camera p_camera in [p_from, p_to).
CREATE FUNCTION cl_footage(p_camera integer, p_from timestamptz, p_to timestamptz) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    WITH rec AS (
        SELECT r.status, r.start_time, r.end_time, r.keyframes
          FROM recordings r
         WHERE r.camera_id = p_camera AND r.end_time IS NOT NULL
           AND tstzrange(r.start_time, r.end_time, '[)') && tstzrange(p_from, p_to, '[)')
    ), spans AS (
        SELECT coalesce(range_agg(tstzrange(greatest(start_time, p_from), least(end_time, p_to), '[)'))
                   FILTER (WHERE status IN ('ok', 'truncated')), '{}') AS good,
               coalesce(range_agg(tstzrange(greatest(start_time, p_from), least(end_time, p_to), '[)'))
                   FILTER (WHERE status = 'deleted'), '{}') AS deleted,
               coalesce(range_agg(tstzrange(greatest(start_time, p_from), least(end_time, p_to), '[)'))
                   FILTER (WHERE status IN ('corrupt', 'empty', 'not_video', 'unreadable')), '{}') AS broken
          FROM rec
    ), missing AS (
        SELECT tstzmultirange(tstzrange(p_from, p_to, '[)')) - good AS m, deleted, broken FROM spans
    ), gaps AS (
        SELECT g, 'deleted' AS reason FROM missing, unnest(m * deleted) g
        UNION ALL
        SELECT g, 'corrupt' FROM missing, unnest(m * broken - deleted) g
        UNION ALL
        SELECT g, 'no_recording' FROM missing, unnest(m - deleted - broken) g
    )
    SELECT jsonb_build_object(
        'from', cl_ts(p_from), 'to', cl_ts(p_to),
        'segments', coalesce((SELECT jsonb_agg(jsonb_build_object(
                'start', cl_ts(greatest(start_time, p_from)), 'end', cl_ts(least(end_time, p_to)),
                'status', status) ORDER BY start_time, end_time)
            FROM rec WHERE status IN ('ok', 'truncated')), '[]'),
        'gaps', coalesce((SELECT jsonb_agg(jsonb_build_object('start', cl_ts(lower(g)),
                'end', cl_ts(upper(g)), 'reason', reason) ORDER BY lower(g)) FROM gaps), '[]'),
        'coverage', (SELECT round(coalesce(sum(extract(epoch FROM upper(g) - lower(g))), 0)
                                  / extract(epoch FROM p_to - p_from), 4)
                       FROM spans, unnest(good) g),
        'first_keyframe', (SELECT cl_ts(max(r.start_time + k.ms * interval '1 millisecond'))
                             FROM rec r, cl_keyframe_offsets(r.keyframes) AS k(ms)
                            WHERE r.status IN ('ok', 'truncated') AND r.start_time <= p_from
                              AND r.end_time > p_from
                              AND r.start_time + k.ms * interval '1 millisecond' <= p_from))
$$;

CREATE FUNCTION cl_api_footage(p_code text, p_from text, p_to text, p_max_secs bigint,
                               OUT status integer, OUT body jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    w record := cl_window(p_from, p_to, p_max_secs);
BEGIN
    status := 200;
    body := jsonb_build_object('camera', p_code) || cl_footage(cl_camera_id(p_code), w.w_from, w.w_to);
END
$$;

CREATE FUNCTION cl_api_keyframes(p_code text, p_from text, p_to text, p_max_secs bigint,
                                 OUT status integer, OUT body jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    w record := cl_window(p_from, p_to, p_max_secs);
    v_camera integer := cl_camera_id(p_code);
BEGIN
    status := 200;
    body := jsonb_build_object('camera', p_code, 'from', cl_ts(w.w_from), 'to', cl_ts(w.w_to),
        'keyframes', coalesce((
            SELECT jsonb_agg(cl_ts(at) ORDER BY at) FROM (
                SELECT r.start_time + k.ms * interval '1 millisecond' AS at
                  FROM recordings r, cl_keyframe_offsets(r.keyframes) AS k(ms)
                 WHERE r.camera_id = v_camera AND r.end_time IS NOT NULL
                   AND r.status IN ('ok', 'truncated')
                   AND tstzrange(r.start_time, r.end_time, '[)') && tstzrange(w.w_from, w.w_to, '[)')
            ) x WHERE at >= w.w_from AND at < w.w_to), '[]'));
END
$$;

---------------------------------------------------------------- cases

CREATE FUNCTION cl_case_json(k cases) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('number', k.number, 'title', k.title,
        'station', (SELECT code FROM stations WHERE id = k.station_id), 'status', k.status,
        'created_by', (SELECT name FROM users WHERE id = k.created_by),
        'created_at', cl_ts(k.created_at), 'updated_at', cl_ts(k.updated_at))
$$;

CREATE FUNCTION cl_api_case_create(p_actor integer, p_body jsonb, OUT status integer, OUT body jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    v_number text;
    v_title text;
    v_station integer;
    v_actor_station integer := cl_user_station(p_actor);
    k cases;
BEGIN
    PERFORM cl_json_only(p_body, ARRAY['number', 'title', 'station']);
    v_number := cl_json_text(p_body, 'number', true, 64);
    IF v_number ~ '[[:cntrl:]]' THEN
        PERFORM cl_fail(400, 'invalid_field', 'number: no control characters');
    END IF;
    v_title := cl_json_text(p_body, 'title', true, 500);
    IF p_body ? 'station' THEN
        v_station := cl_station_id(cl_json_text(p_body, 'station', true, 64));
        IF v_actor_station IS NOT NULL AND v_station <> v_actor_station THEN
            PERFORM cl_fail(403, 'other_station', 'station: cases are opened at your own station');
        END IF;
    ELSE
        v_station := v_actor_station;
        IF v_station IS NULL THEN
            PERFORM cl_fail(400, 'missing_field', 'station: required');
        END IF;
    END IF;
    INSERT INTO cases (number, title, station_id, created_by)
    VALUES (v_number, v_title, v_station, p_actor)
    ON CONFLICT (number) DO NOTHING RETURNING * INTO k;
    IF k.id IS NULL THEN
        PERFORM cl_fail(409, 'case_exists', 'case ' || v_number || ' exists');
    END IF;
    PERFORM cl_audit(p_actor, 'case.opened', 'case', k.number,
                     jsonb_build_object('title', k.title, 'station',
                                        (SELECT code FROM stations WHERE id = k.station_id)));
    status := 201;
    body := cl_case_json(k);
END
$$;

CREATE FUNCTION cl_case_get(p_number text) RETURNS cases
LANGUAGE plpgsql STABLE AS $$
DECLARE
    k cases;
BEGIN
    SELECT * INTO k FROM cases WHERE number = p_number;
    IF k.id IS NULL THEN
        PERFORM cl_fail(404, 'case_not_found', 'case ' || p_number || ': no such case');
    END IF;
    RETURN k;
END
$$;

CREATE FUNCTION cl_api_case_get(p_number text, OUT status integer, OUT body jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    k cases := cl_case_get(p_number);
BEGIN
    status := 200;
    body := cl_case_json(k) || jsonb_build_object('requests', (
        SELECT jsonb_build_object('total', count(*),
            'pending', count(*) FILTER (WHERE r.status = 'pending'),
            'approved', count(*) FILTER (WHERE r.status = 'approved'),
            'rejected', count(*) FILTER (WHERE r.status = 'rejected'),
            'cancelled', count(*) FILTER (WHERE r.status = 'cancelled'),
            'fulfilled', count(*) FILTER (WHERE r.status IN ('fulfilled', 'partial')))
        FROM requests r WHERE r.case_id = k.id));
END
$$;

CREATE FUNCTION cl_api_case_list(p_station text, p_status text, p_limit text, p_offset text,
                                 OUT status integer, OUT body jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_limit bigint := cl_parse_int(p_limit, 'limit', 1, 500, 50);
    v_offset bigint := cl_parse_int(p_offset, 'offset', 0, 1000000000, 0);
    v_station integer;
BEGIN
    IF p_station IS NOT NULL THEN
        v_station := cl_station_id(p_station);
    END IF;
    IF p_status IS NOT NULL AND p_status NOT IN ('open', 'solved', 'closed') THEN
        PERFORM cl_fail(400, 'invalid_parameter', 'status: open, solved or closed');
    END IF;
    SELECT jsonb_build_object(
        'cases', coalesce((SELECT jsonb_agg(cl_case_json(k) ORDER BY k.id DESC) FROM (
            SELECT * FROM cases WHERE (v_station IS NULL OR station_id = v_station)
               AND (p_status IS NULL OR cases.status = p_status)
             ORDER BY id DESC LIMIT v_limit OFFSET v_offset) k), '[]'),
        'total', (SELECT count(*) FROM cases WHERE (v_station IS NULL OR station_id = v_station)
                     AND (p_status IS NULL OR cases.status = p_status)),
        'limit', v_limit, 'offset', v_offset)
    INTO body;
    status := 200;
END
$$;

CREATE FUNCTION cl_api_case_update(p_actor integer, p_number text, p_body jsonb,
                                   OUT status integer, OUT body jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    k cases;
    v_status text;
    v_title text;
    v_actor_station integer := cl_user_station(p_actor);
    v_old text;
BEGIN
    SELECT * INTO k FROM cases WHERE number = p_number FOR UPDATE;
    IF k.id IS NULL THEN
        PERFORM cl_fail(404, 'case_not_found', 'case ' || p_number || ': no such case');
    END IF;
    IF v_actor_station IS NOT NULL AND k.station_id <> v_actor_station THEN
        PERFORM cl_fail(403, 'other_station', 'this case belongs to another station');
    END IF;
    PERFORM cl_json_only(p_body, ARRAY['title', 'status']);
    IF p_body = '{}' THEN
        PERFORM cl_fail(400, 'invalid_body', 'nothing to change: give title or status');
    END IF;
    v_title := cl_json_text(p_body, 'title', p_body ? 'title', 500);
    v_status := cl_json_text(p_body, 'status', p_body ? 'status', 16);
    IF v_status IS NOT NULL AND v_status NOT IN ('open', 'solved', 'closed') THEN
        PERFORM cl_fail(400, 'invalid_field', 'status: open, solved or closed');
    END IF;
    IF k.status = 'closed' THEN
        PERFORM cl_fail(409, 'invalid_state', 'case ' || k.number || ' is closed');
    END IF;
    v_old := k.status;
    UPDATE cases SET title = coalesce(v_title, title), status = coalesce(v_status, cases.status),
                     updated_at = now()
     WHERE id = k.id RETURNING * INTO k;
    IF v_status IS NOT NULL AND v_status <> v_old THEN
        PERFORM cl_audit(p_actor, 'case.' || CASE v_status WHEN 'open' THEN 'reopened'
                                                      ELSE v_status END,
                         'case', k.number, jsonb_build_object('from', v_old, 'to', v_status));
    END IF;
    IF v_title IS NOT NULL THEN
        PERFORM cl_audit(p_actor, 'case.updated', 'case', k.number,
                         jsonb_build_object('title', v_title));
    END IF;
    status := 200;
    body := cl_case_json(k);
END
$$;

---------------------------------------------------------------- requests

CREATE FUNCTION cl_request_json(r requests) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', r.id,
        'case', (SELECT number FROM cases WHERE id = r.case_id),
        'camera', (SELECT code FROM cameras WHERE id = r.camera_id),
        'from', cl_ts(r.from_time), 'to', cl_ts(r.to_time), 'reason', r.reason,
        'status', r.status, 'requester', (SELECT name FROM users WHERE id = r.requester_id),
        'created_at', cl_ts(r.created_at), 'updated_at', cl_ts(r.updated_at),
        'decided_by', (SELECT name FROM users WHERE id = r.decided_by),
        'decided_at', cl_ts(r.decided_at), 'decision_reason', r.decision_reason)
$$;

CREATE FUNCTION cl_api_request_create(p_actor integer, p_body jsonb, p_key text, p_max_secs bigint,
                                      OUT status integer, OUT body jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    v_case cases;
    v_camera integer;
    w record;
    v_reason text;
    v_actor_station integer := cl_user_station(p_actor);
    r requests;
    v_avail jsonb;
BEGIN
    IF p_key IS NOT NULL THEN
        SELECT * INTO r FROM requests WHERE requester_id = p_actor AND idempotency_key = p_key;
        IF r.id IS NOT NULL THEN
            IF r.first_response -> 'request' IS DISTINCT FROM p_body THEN
                PERFORM cl_fail(409, 'idempotency_key_reused',
                                'Idempotency-Key was used for a different request');
            END IF;
            status := 201;
            body := r.first_response -> 'response';
            RETURN;
        END IF;
    END IF;
    PERFORM cl_json_only(p_body, ARRAY['case', 'camera', 'from', 'to', 'reason']);
    w := cl_window(cl_json_text(p_body, 'from', true, 64), cl_json_text(p_body, 'to', true, 64),
                   p_max_secs);
    v_reason := cl_json_text(p_body, 'reason', true, 2000);
    SELECT * INTO v_case FROM cases WHERE number = cl_json_text(p_body, 'case', true, 64);
    IF v_case.id IS NULL THEN
        PERFORM cl_fail(400, 'unknown_case', 'case ' || (p_body ->> 'case') || ': no such case');
    END IF;
    IF v_case.status <> 'open' THEN
        PERFORM cl_fail(409, 'case_not_open', 'case ' || v_case.number || ' is ' || v_case.status);
    END IF;
    IF v_actor_station IS NOT NULL AND v_case.station_id <> v_actor_station THEN
        PERFORM cl_fail(403, 'other_station', 'this case belongs to another station');
    END IF;
    SELECT id INTO v_camera FROM cameras WHERE code = cl_json_text(p_body, 'camera', true, 128);
    IF v_camera IS NULL THEN
        PERFORM cl_fail(400, 'unknown_camera', 'camera ' || (p_body ->> 'camera') || ': no such camera');
    END IF;
    BEGIN
        INSERT INTO requests (case_id, camera_id, from_time, to_time, reason, requester_id,
                              idempotency_key)
        VALUES (v_case.id, v_camera, w.w_from, w.w_to, v_reason, p_actor, p_key)
        RETURNING * INTO r;
    EXCEPTION WHEN unique_violation THEN
        -- A retry with the same key raced this one and won: answer as it did.
        SELECT * INTO r FROM requests WHERE requester_id = p_actor AND idempotency_key = p_key;
        IF r.first_response -> 'request' IS DISTINCT FROM p_body THEN
            PERFORM cl_fail(409, 'idempotency_key_reused',
                            'Idempotency-Key was used for a different request');
        END IF;
        status := 201;
        body := r.first_response -> 'response';
        RETURN;
    END;
    v_avail := cl_footage(v_camera, w.w_from, w.w_to);
    body := cl_request_json(r) || jsonb_build_object('availability', jsonb_build_object(
        'coverage', v_avail -> 'coverage', 'segments', jsonb_array_length(v_avail -> 'segments'),
        'gaps', v_avail -> 'gaps', 'first_keyframe', v_avail -> 'first_keyframe'));
    IF p_key IS NOT NULL THEN
        UPDATE requests SET first_response = jsonb_build_object('request', p_body, 'response', body)
         WHERE id = r.id;
    END IF;
    PERFORM cl_audit(p_actor, 'request.created', 'request', r.id::text,
                     jsonb_build_object('case', v_case.number, 'camera', p_body ->> 'camera',
                                        'from', cl_ts(w.w_from), 'to', cl_ts(w.w_to)), v_camera);
    status := 201;
END
$$;

CREATE FUNCTION cl_api_request_get(p_id text, OUT status integer, OUT body jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    r requests;
BEGIN
    SELECT * INTO r FROM requests WHERE id = cl_parse_int(p_id, 'id', 1, 9223372036854775807, NULL);
    IF r.id IS NULL THEN
        PERFORM cl_fail(404, 'request_not_found', 'request ' || p_id || ': no such request');
    END IF;
    status := 200;
    body := cl_request_json(r);
END
$$;

-- approve, reject (admins of the case's station) and cancel (the requester).
CREATE FUNCTION cl_api_request_act(p_actor integer, p_id text, p_action text, p_body jsonb,
                                   OUT status integer, OUT body jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    r requests;
    v_case cases;
    v_reason text;
    v_actor_station integer := cl_user_station(p_actor);
    v_new text := CASE p_action WHEN 'approve' THEN 'approved' WHEN 'reject' THEN 'rejected'
                                WHEN 'cancel' THEN 'cancelled' END;
BEGIN
    SELECT * INTO r FROM requests
     WHERE id = cl_parse_int(p_id, 'id', 1, 9223372036854775807, NULL) FOR UPDATE;
    IF r.id IS NULL THEN
        PERFORM cl_fail(404, 'request_not_found', 'request ' || p_id || ': no such request');
    END IF;
    IF p_body IS NOT NULL THEN
        PERFORM cl_json_only(p_body, ARRAY['reason']);
        v_reason := cl_json_text(p_body, 'reason', false, 2000);
    END IF;
    SELECT * INTO v_case FROM cases WHERE id = r.case_id;
    IF p_action = 'cancel' THEN
        IF r.requester_id <> p_actor THEN
            PERFORM cl_fail(403, 'not_requester', 'only the investigator who asked may cancel');
        END IF;
    ELSIF v_actor_station IS NOT NULL AND v_case.station_id <> v_actor_station THEN
        PERFORM cl_fail(403, 'other_station', 'this request belongs to another station');
    END IF;
    IF p_action = 'reject' AND (v_reason IS NULL OR v_reason = '') THEN
        PERFORM cl_fail(400, 'missing_field', 'reason: required to reject');
    END IF;
    -- The trigger lets a row keep its status (other columns may change); as
    -- an action, approving the approved or cancelling the cancelled is not.
    IF r.status = v_new THEN
        PERFORM cl_fail(409, 'invalid_state', format('request %s is already %s', r.id, r.status));
    END IF;
    UPDATE requests SET status = v_new,
        decided_by = CASE WHEN p_action = 'cancel' THEN decided_by ELSE p_actor END,
        decided_at = CASE WHEN p_action = 'cancel' THEN decided_at ELSE now() END,
        approved_at = CASE WHEN p_action = 'approve' THEN now() ELSE approved_at END,
        decision_reason = coalesce(v_reason, decision_reason)
     WHERE id = r.id RETURNING * INTO r;
    PERFORM cl_audit(p_actor, 'request.' || v_new, 'request', r.id::text,
                     jsonb_strip_nulls(jsonb_build_object('case', v_case.number, 'reason', v_reason)),
                     r.camera_id);
    status := 200;
    body := cl_request_json(r);
END
$$;

---------------------------------------------------------------- audit

CREATE FUNCTION cl_api_audit_log(p_after text, p_limit text, OUT status integer, OUT body jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_after bigint := cl_parse_int(p_after, 'after', 0, 9223372036854775807, 0);
    v_limit bigint := cl_parse_int(p_limit, 'limit', 1, 1000, 100);
BEGIN
    SELECT jsonb_build_object('entries', coalesce(jsonb_agg(jsonb_build_object(
               'id', a.id, 'at', cl_ts(a.at), 'actor', a.actor, 'action', a.action,
               'object_type', a.object_type, 'object_id', a.object_id, 'data', a.data,
               'prev_hash', encode(a.prev_hash, 'hex'), 'hash', encode(a.hash, 'hex'))
               ORDER BY a.id), '[]'),
           'next_after', max(a.id))
      INTO body
      FROM (SELECT * FROM audit_log WHERE id > v_after ORDER BY id LIMIT v_limit) a;
    status := 200;
END
$$;

CREATE FUNCTION cl_api_audit_verify(OUT status integer, OUT body jsonb)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    status := 200;
    body := cl_audit_verify();
END
$$;

-- Extraction counts per case, station, camera or month of the request's
-- creation, over requests created in [from, to).
CREATE FUNCTION cl_api_audit_extractions(p_group text, p_from text, p_to text,
                                         OUT status integer, OUT body jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_from timestamptz := cl_parse_time(p_from, 'from');
    v_to timestamptz := cl_parse_time(p_to, 'to');
BEGIN
    IF p_group IS NULL OR p_group NOT IN ('case', 'station', 'camera', 'month') THEN
        PERFORM cl_fail(400, 'invalid_parameter', 'group_by: case, station, camera or month');
    END IF;
    IF v_from IS NOT NULL AND v_to IS NOT NULL AND v_to <= v_from THEN
        PERFORM cl_fail(400, 'invalid_window', 'to must be later than from');
    END IF;
    WITH r AS (
        SELECT q.*, CASE p_group
                        WHEN 'case' THEN k.number
                        WHEN 'station' THEN s.code
                        WHEN 'camera' THEN c.code
                        ELSE to_char(q.created_at AT TIME ZONE 'UTC', 'YYYY-MM') END AS key
          FROM requests q
          JOIN cases k ON k.id = q.case_id
          JOIN stations s ON s.id = k.station_id
          JOIN cameras c ON c.id = q.camera_id
         WHERE (v_from IS NULL OR q.created_at >= v_from) AND (v_to IS NULL OR q.created_at < v_to)
    ), g AS (
        SELECT key, count(*) AS requests,
               count(*) FILTER (WHERE approved_at IS NOT NULL) AS approved,
               count(*) FILTER (WHERE r.status = 'rejected') AS rejected,
               count(*) FILTER (WHERE r.status IN ('fulfilled', 'partial')) AS fulfilled,
               round(coalesce(sum(extract(epoch FROM to_time - from_time))
                              FILTER (WHERE approved_at IS NOT NULL), 0), 3) AS footage_seconds,
               count(DISTINCT camera_id) AS cameras
          FROM r GROUP BY key
    )
    SELECT jsonb_build_object('group_by', p_group, 'from', cl_ts(v_from), 'to', cl_ts(v_to),
        'rows', coalesce((SELECT jsonb_agg(to_jsonb(g) ORDER BY g.key) FROM g), '[]'),
        'totals', (SELECT jsonb_build_object('requests', count(*),
               'approved', count(*) FILTER (WHERE approved_at IS NOT NULL),
               'rejected', count(*) FILTER (WHERE r.status = 'rejected'),
               'fulfilled', count(*) FILTER (WHERE r.status IN ('fulfilled', 'partial')),
               'footage_seconds', round(coalesce(sum(extract(epoch FROM to_time - from_time))
                                        FILTER (WHERE approved_at IS NOT NULL), 0), 3),
               'cameras', count(DISTINCT camera_id)) FROM r))
    INTO body;
    status := 200;
END
$$;

-- Token to user, for authentication.
CREATE FUNCTION cl_auth(p_sha256_hex text) RETURNS TABLE (user_id integer, name text, role text,
                                                          station text)
LANGUAGE sql STABLE AS $$
    SELECT u.id, u.name, u.role, s.code
      FROM tokens t JOIN users u ON u.id = t.user_id LEFT JOIN stations s ON s.id = u.station_id
     WHERE t.sha256 = decode(p_sha256_hex, 'hex') AND t.revoked_at IS NULL
$$;

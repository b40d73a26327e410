-- 0002: users and tokens, cases, extraction requests, the audit log, and
-- spatial search over cameras.
--
-- Errors raised for the HTTP layer use SQLSTATEs of the class 'CL':
--   CL400 bad input, CL403 not allowed, CL404 not found, CL409 conflict or
--   invalid state change; DETAIL carries the machine-readable error code.

-- cube is a trusted extension: no superuser needed to install it.
CREATE EXTENSION IF NOT EXISTS cube;

-- A point on the Earth's surface in metres from its centre (the sphere of
-- contrib's earthdistance), so a radius search is a GiST cube lookup.
CREATE FUNCTION cl_earth_point(lat double precision, lon double precision) RETURNS cube
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT cube(ARRAY[6378168 * cos(radians(lat)) * cos(radians(lon)),
                      6378168 * cos(radians(lat)) * sin(radians(lon)),
                      6378168 * sin(radians(lat))])
$$;

-- Great-circle distance in metres (haversine), on the same sphere.
CREATE FUNCTION cl_earth_distance(lat1 double precision, lon1 double precision,
                                  lat2 double precision, lon2 double precision)
RETURNS double precision LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT 2 * 6378168 * asin(least(1, sqrt(
        sin(radians(lat2 - lat1) / 2) ^ 2 +
        cos(radians(lat1)) * cos(radians(lat2)) * sin(radians(lon2 - lon1) / 2) ^ 2)))
$$;

CREATE INDEX cameras_location ON cameras USING gist (cl_earth_point(lat, lon))
    WHERE lat IS NOT NULL;
CREATE INDEX cameras_station ON cameras (station_id, code);

CREATE TABLE users (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
    role        text NOT NULL CHECK (role IN ('investigator', 'admin', 'auditor')),
    station_id  integer REFERENCES stations (id),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Only the SHA-256 of a token is kept.
CREATE TABLE tokens (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     integer NOT NULL REFERENCES users (id),
    sha256      bytea NOT NULL UNIQUE CHECK (length(sha256) = 32),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE TABLE cases (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    number      text NOT NULL UNIQUE CHECK (number ~ '^[^[:cntrl:]]{1,64}$'),
    title       text NOT NULL CHECK (length(title) BETWEEN 1 AND 500),
    station_id  integer NOT NULL REFERENCES stations (id),
    status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'solved', 'closed')),
    created_by  integer NOT NULL REFERENCES users (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cases_station ON cases (station_id, created_at);

CREATE TABLE requests (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id          integer NOT NULL REFERENCES cases (id),
    camera_id        integer NOT NULL REFERENCES cameras (id),
    from_time        timestamptz NOT NULL,
    to_time          timestamptz NOT NULL,
    reason           text NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN
                         ('pending', 'approved', 'rejected', 'cancelled',
                          'fulfilled', 'partial', 'unavailable', 'failed')),
    requester_id     integer NOT NULL REFERENCES users (id),
    idempotency_key  text CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    first_response   jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    decided_by       integer REFERENCES users (id),
    decided_at       timestamptz,
    approved_at      timestamptz,
    decision_reason  text,
    CHECK (to_time > from_time),
    UNIQUE (requester_id, idempotency_key)
);
CREATE INDEX requests_case ON requests (case_id, id);
CREATE INDEX requests_camera ON requests (camera_id, id);
CREATE INDEX requests_status ON requests (status, id);
CREATE INDEX requests_created ON requests (created_at);

-- The request life cycle, enforced here whatever the client.
CREATE FUNCTION cl_request_transition_check() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = OLD.status THEN
        RETURN NEW;
    END IF;
    IF NOT ((OLD.status = 'pending' AND NEW.status IN ('approved', 'rejected', 'cancelled'))
         OR (OLD.status = 'approved' AND NEW.status IN
                ('cancelled', 'fulfilled', 'partial', 'unavailable', 'failed'))) THEN
        RAISE EXCEPTION 'request % is %, it cannot become %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'CL409', DETAIL = 'invalid_state';
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END
$$;
CREATE TRIGGER requests_transition BEFORE UPDATE OF status ON requests
    FOR EACH ROW EXECUTE FUNCTION cl_request_transition_check();

-- The audit log: append-only, each entry chained to the previous one by
-- SHA-256 over its canonical content.
CREATE TABLE audit_log (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           timestamptz NOT NULL,
    actor_id     integer,
    actor        text NOT NULL,
    action       text NOT NULL,
    object_type  text NOT NULL,
    object_id    text NOT NULL,
    camera_id    integer,
    data         jsonb NOT NULL DEFAULT '{}',
    prev_hash    bytea NOT NULL CHECK (length(prev_hash) = 32),
    hash         bytea NOT NULL UNIQUE CHECK (length(hash) = 32)
);

-- The exact bytes an entry's hash covers, besides the previous hash.
CREATE FUNCTION cl_audit_canonical(id bigint, at timestamptz, actor_id integer, actor text,
                                   action text, object_type text, object_id text,
                                   data jsonb) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT convert_to(jsonb_build_array(id,
        to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        actor_id, actor, action, object_type, object_id, data)::text, 'UTF8')
$$;

-- Appends one entry. The advisory lock, held to the end of the transaction,
-- keeps the chain linear under concurrent writers.
CREATE FUNCTION cl_audit(p_actor_id integer, p_action text, p_object_type text,
                         p_object_id text, p_data jsonb, p_camera_id integer DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_prev  bytea;
    v_id    bigint;
    v_at    timestamptz := clock_timestamp();
    v_actor text;
BEGIN
    PERFORM pg_advisory_xact_lock(7161077148424660083);
    SELECT hash INTO v_prev FROM audit_log ORDER BY id DESC LIMIT 1;
    v_prev := coalesce(v_prev, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea);
    SELECT coalesce((SELECT name FROM users WHERE id = p_actor_id), 'system') INTO v_actor;
    v_id := nextval(pg_get_serial_sequence('audit_log', 'id'));
    INSERT INTO audit_log (id, at, actor_id, actor, action, object_type, object_id, camera_id,
                           data, prev_hash, hash)
    OVERRIDING SYSTEM VALUE
    VALUES (v_id, v_at, p_actor_id, v_actor, p_action, p_object_type, p_object_id, p_camera_id,
            coalesce(p_data, '{}'), v_prev,
            sha256(v_prev || cl_audit_canonical(v_id, v_at, p_actor_id, v_actor, p_action,
                                                p_object_type, p_object_id, coalesce(p_data, '{}'))));
    RETURN v_id;
END
$$;

CREATE FUNCTION cl_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION cl_audit_refuse();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION cl_audit_refuse();

-- Walks the chain: every entry's hash recomputed, every link checked.
CREATE FUNCTION cl_audit_verify() RETURNS jsonb LANGUAGE sql STABLE AS $$
    WITH walk AS (
        SELECT id,
               hash = sha256(prev_hash || cl_audit_canonical(id, at, actor_id, actor, action,
                                                             object_type, object_id, data))
                   AS self_ok,
               prev_hash = coalesce(lag(hash) OVER (ORDER BY id),
                   '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea)
                   AS link_ok
          FROM audit_log
    ), bad AS (
        SELECT id, self_ok, link_ok FROM walk WHERE NOT (self_ok AND link_ok) ORDER BY id LIMIT 1
    )
    SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM bad)
        THEN jsonb_build_object('ok', true, 'entries', (SELECT count(*) FROM audit_log))
        ELSE (SELECT jsonb_build_object('ok', false, 'entries', (SELECT count(*) FROM audit_log),
                  'first_bad', id,
                  'reason', CASE WHEN NOT self_ok THEN 'content does not match its hash'
                                 ELSE 'previous hash does not match the entry before' END)
              FROM bad)
    END
$$;

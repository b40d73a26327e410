-- 0004: fulfilling approved requests: claims shared by several indexers,
-- retries with backoff, clips and manifests with their hashes, downloads,
-- and when the footage a request needs will be overwritten.

ALTER TABLE requests
    ADD COLUMN claimed_by       text,
    ADD COLUMN claimed_until    timestamptz,
    ADD COLUMN attempts         integer NOT NULL DEFAULT 0,
    ADD COLUMN next_attempt_at  timestamptz,
    ADD COLUMN last_error       text,
    ADD COLUMN fulfilled_at     timestamptz,
    ADD COLUMN clip_path        text,
    ADD COLUMN clip_sha256      text CHECK (clip_sha256 ~ '^[0-9a-f]{64}$'),
    ADD COLUMN clip_size        bigint,
    ADD COLUMN clip_duration_ms bigint,
    ADD COLUMN manifest_path    text,
    ADD COLUMN manifest_sha256  text CHECK (manifest_sha256 ~ '^[0-9a-f]{64}$'),
    ADD COLUMN manifest_size    bigint,
    ADD COLUMN coverage         numeric(5, 4);

CREATE INDEX requests_claimable ON requests (approved_at) WHERE status = 'approved';

-- The oldest footage a request still needs, plus the camera's retention:
-- when the recorder will have overwritten it. NULL when nothing recorded is
-- left to lose or the camera's retention is unknown.
CREATE FUNCTION cl_request_overwrite_at(r requests) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT min(rec.start_time) + c.retention_days * interval '1 day'
      FROM cameras c
      JOIN recordings rec ON rec.camera_id = c.id
     WHERE c.id = r.camera_id AND c.retention_days IS NOT NULL
       AND rec.status IN ('ok', 'truncated') AND rec.end_time IS NOT NULL
       AND tstzrange(rec.start_time, rec.end_time, '[)') && tstzrange(r.from_time, r.to_time, '[)')
     GROUP BY c.retention_days
$$;

-- Claims the oldest approved request this indexer can cut: one whose camera
-- has recordings under one of p_prefixes (the indexer's roots, each ending
-- in '/'), not claimed by a live lease, not waiting for a retry. SKIP LOCKED
-- lets several indexers claim at once without blocking or double claims.
CREATE FUNCTION cl_claim_request(p_node text, p_lease_secs integer, p_prefixes text[])
RETURNS TABLE (id bigint, camera_code text, from_time timestamptz, to_time timestamptz,
               case_number text, attempts integer)
LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
BEGIN
    SELECT r.id INTO v_id
      FROM requests r
     WHERE r.status = 'approved'
       AND (r.claimed_until IS NULL OR r.claimed_until < now())
       AND (r.next_attempt_at IS NULL OR r.next_attempt_at <= now())
       AND EXISTS (SELECT 1 FROM recordings rec, unnest(p_prefixes) AS p(prefix)
                    WHERE rec.camera_id = r.camera_id AND starts_with(rec.path, p.prefix))
     ORDER BY r.approved_at, r.id
     LIMIT 1
     FOR UPDATE OF r SKIP LOCKED;
    IF v_id IS NULL THEN
        RETURN;
    END IF;
    UPDATE requests SET claimed_by = p_node, claimed_until = now() + p_lease_secs * interval '1 second',
                        attempts = requests.attempts + 1
     WHERE requests.id = v_id;
    RETURN QUERY
        SELECT r.id, c.code, r.from_time, r.to_time, k.number, r.attempts
          FROM requests r JOIN cameras c ON c.id = r.camera_id JOIN cases k ON k.id = r.case_id
         WHERE r.id = v_id;
END
$$;

-- The recordings a claimed request's window touches, in time order.
CREATE FUNCTION cl_request_sources(p_id bigint)
RETURNS TABLE (recording_id bigint, path text, status text, start_time timestamptz,
               end_time timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT rec.id, rec.path, rec.status, rec.start_time, rec.end_time
      FROM requests r JOIN recordings rec ON rec.camera_id = r.camera_id
     WHERE r.id = p_id AND rec.end_time IS NOT NULL
       AND tstzrange(rec.start_time, rec.end_time, '[)') && tstzrange(r.from_time, r.to_time, '[)')
     ORDER BY rec.start_time, rec.end_time, rec.id
$$;

-- Records the outcome of a cut by the indexer holding the claim:
-- fulfilled (covered), partial (gaps), unavailable (nothing recorded). The
-- audit entry carries the clip's hash.
CREATE FUNCTION cl_fulfil_request(p_id bigint, p_node text, p_status text, p_clip_path text,
                                  p_clip_sha256 text, p_clip_size bigint, p_duration_ms bigint,
                                  p_manifest_path text, p_manifest_sha256 text,
                                  p_manifest_size bigint, p_coverage numeric)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    r requests;
BEGIN
    IF p_status NOT IN ('fulfilled', 'partial', 'unavailable') THEN
        PERFORM cl_fail(400, 'invalid_status', 'not an outcome: ' || p_status);
    END IF;
    SELECT * INTO r FROM requests WHERE id = p_id FOR UPDATE;
    IF r.id IS NULL OR r.status <> 'approved' OR r.claimed_by IS DISTINCT FROM p_node THEN
        RETURN false;  -- the claim was lost (lease expired and taken over) or cancelled
    END IF;
    UPDATE requests SET status = p_status, fulfilled_at = now(), clip_path = p_clip_path,
        clip_sha256 = p_clip_sha256, clip_size = p_clip_size, clip_duration_ms = p_duration_ms,
        manifest_path = p_manifest_path, manifest_sha256 = p_manifest_sha256,
        manifest_size = p_manifest_size, coverage = p_coverage,
        claimed_by = NULL, claimed_until = NULL, last_error = NULL
     WHERE id = p_id;
    PERFORM cl_audit(NULL, 'request.' || p_status, 'request', p_id::text,
                     jsonb_strip_nulls(jsonb_build_object('node', p_node,
                         'clip_sha256', p_clip_sha256, 'clip_size', p_clip_size,
                         'manifest_sha256', p_manifest_sha256, 'coverage', p_coverage)),
                     r.camera_id);
    RETURN true;
END
$$;

-- A cut failed: retry later with exponential backoff (30 s, 60 s, 120 s, ...),
-- or after p_max_attempts give up and mark the request failed.
CREATE FUNCTION cl_request_attempt_failed(p_id bigint, p_node text, p_error text,
                                          p_max_attempts integer)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r requests;
BEGIN
    SELECT * INTO r FROM requests WHERE id = p_id FOR UPDATE;
    IF r.id IS NULL OR r.status <> 'approved' OR r.claimed_by IS DISTINCT FROM p_node THEN
        RETURN 'lost';
    END IF;
    IF r.attempts >= p_max_attempts THEN
        UPDATE requests SET status = 'failed', last_error = p_error, claimed_by = NULL,
                            claimed_until = NULL
         WHERE id = p_id;
        PERFORM cl_audit(NULL, 'request.failed', 'request', p_id::text,
                         jsonb_build_object('node', p_node, 'error', p_error,
                                            'attempts', r.attempts), r.camera_id);
        RETURN 'failed';
    END IF;
    UPDATE requests SET last_error = p_error, claimed_by = NULL, claimed_until = NULL,
        next_attempt_at = now() + least(3600, 30 * 2 ^ (r.attempts - 1)) * interval '1 second'
     WHERE id = p_id;
    RETURN 'retry';
END
$$;

-- A download of a request's clip or manifest: who may (the requester, and
-- admins of the case's station), what file (paths come from here, never
-- from the request), and an audit entry naming the bytes sent.
CREATE FUNCTION cl_api_request_file(p_actor integer, p_id text, p_kind text, p_range text,
                                    OUT status integer, OUT body jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    r requests;
    v_case cases;
    v_role text;
    v_station integer;
BEGIN
    SELECT * INTO r FROM requests WHERE id = cl_parse_int(p_id, 'id', 1, 9223372036854775807, NULL);
    IF r.id IS NULL THEN
        PERFORM cl_fail(404, 'request_not_found', 'request ' || p_id || ': no such request');
    END IF;
    SELECT role, station_id INTO v_role, v_station FROM users WHERE id = p_actor;
    SELECT * INTO v_case FROM cases WHERE id = r.case_id;
    IF NOT (r.requester_id = p_actor
            OR (v_role = 'admin' AND (v_station IS NULL OR v_station = v_case.station_id))) THEN
        PERFORM cl_fail(403, 'forbidden', 'only the requester and the station''s admins may download');
    END IF;
    IF r.status NOT IN ('fulfilled', 'partial', 'unavailable') THEN
        PERFORM cl_fail(409, 'not_fulfilled', 'request ' || r.id || ' is ' || r.status || ': nothing to download yet');
    END IF;
    IF p_kind = 'clip' AND r.clip_path IS NULL THEN
        PERFORM cl_fail(404, 'no_clip', 'request ' || r.id || ' is unavailable: no footage, only a manifest');
    END IF;
    PERFORM cl_audit(p_actor, 'request.downloaded', 'request', r.id::text,
                     jsonb_build_object('file', p_kind, 'bytes', coalesce(p_range, 'all')), r.camera_id);
    status := 200;
    body := CASE p_kind
        WHEN 'clip' THEN jsonb_build_object('path', r.clip_path, 'size', r.clip_size,
                                            'sha256', r.clip_sha256)
        ELSE jsonb_build_object('path', r.manifest_path, 'size', r.manifest_size,
                                'sha256', r.manifest_sha256) END;
END
$$;

-- Requests as the API shows them, now with the outcome of the cut and, while
-- the footage is still to be cut, when the recorder will overwrite it.
CREATE OR REPLACE FUNCTION cl_request_json(r requests) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('id', r.id,
        'case', (SELECT number FROM cases WHERE id = r.case_id),
        'camera', (SELECT code FROM cameras WHERE id = r.camera_id),
        'from', cl_ts(r.from_time), 'to', cl_ts(r.to_time), 'reason', r.reason,
        'status', r.status, 'requester', (SELECT name FROM users WHERE id = r.requester_id),
        'created_at', cl_ts(r.created_at), 'updated_at', cl_ts(r.updated_at),
        'decided_by', (SELECT name FROM users WHERE id = r.decided_by),
        'decided_at', cl_ts(r.decided_at), 'decision_reason', r.decision_reason,
        'overwrite_at', CASE WHEN r.status IN ('pending', 'approved')
                             THEN cl_ts(cl_request_overwrite_at(r)) END,
        'fulfilled_at', cl_ts(r.fulfilled_at),
        'coverage', r.coverage,
        'clip', CASE WHEN r.clip_sha256 IS NOT NULL THEN jsonb_build_object(
                    'sha256', r.clip_sha256, 'size', r.clip_size,
                    'duration_ms', r.clip_duration_ms) END,
        'manifest_sha256', r.manifest_sha256,
        'error', CASE WHEN r.status = 'failed' THEN r.last_error END)
$$;

-- The request list, filtered by case, camera, status and requester, newest
-- first; with at_risk only requests whose footage is not yet cut, ordered by
-- when it will be overwritten, the ones about to vanish first (a status
-- filter may then only narrow to pending or approved).
CREATE FUNCTION cl_api_request_list(p_case text, p_camera text, p_status text, p_requester text,
                                    p_at_risk text, p_limit text, p_offset text,
                                    OUT status integer, OUT body jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_limit bigint := cl_parse_int(p_limit, 'limit', 1, 500, 50);
    v_offset bigint := cl_parse_int(p_offset, 'offset', 0, 1000000000, 0);
    v_at_risk boolean := p_at_risk IS NOT NULL;
    v_case integer;
    v_camera integer;
    v_user integer;
BEGIN
    IF p_at_risk IS NOT NULL AND p_at_risk <> 'true' THEN
        PERFORM cl_fail(400, 'invalid_parameter', 'at_risk: only true');
    END IF;
    IF p_case IS NOT NULL THEN
        v_case := coalesce((SELECT id FROM cases WHERE number = p_case), -1);
    END IF;
    IF p_camera IS NOT NULL THEN
        v_camera := coalesce((SELECT id FROM cameras WHERE code = p_camera), -1);
    END IF;
    IF p_requester IS NOT NULL THEN
        v_user := coalesce((SELECT id FROM users WHERE name = p_requester), -1);
    END IF;
    IF p_status IS NOT NULL AND p_status NOT IN ('pending', 'approved', 'rejected', 'cancelled',
                                                 'fulfilled', 'partial', 'unavailable', 'failed') THEN
        PERFORM cl_fail(400, 'invalid_parameter', 'status: not a request status');
    END IF;
    IF v_at_risk AND p_status IS NOT NULL AND p_status NOT IN ('pending', 'approved') THEN
        PERFORM cl_fail(400, 'invalid_parameter', 'status: with at_risk, pending or approved');
    END IF;
    WITH hits AS (
        SELECT r, CASE WHEN v_at_risk THEN cl_request_overwrite_at(r) END AS overwrite_at
          FROM requests r
         WHERE (v_case IS NULL OR r.case_id = v_case)
           AND (v_camera IS NULL OR r.camera_id = v_camera)
           AND (v_user IS NULL OR r.requester_id = v_user)
           AND (p_status IS NULL OR r.status = p_status)
           AND (NOT v_at_risk OR r.status IN ('pending', 'approved'))
    ), page AS (
        SELECT *, row_number() OVER (ORDER BY
                      CASE WHEN v_at_risk THEN overwrite_at END NULLS LAST,
                      CASE WHEN v_at_risk THEN (r).id END,
                      (r).id DESC) AS n
          FROM hits
    )
    SELECT jsonb_build_object(
        'requests', coalesce((SELECT jsonb_agg(cl_request_json(p.r) ORDER BY p.n)
                                FROM page p WHERE p.n > v_offset AND p.n <= v_offset + v_limit), '[]'),
        'total', (SELECT count(*) FROM hits), 'limit', v_limit, 'offset', v_offset)
    INTO body;
    status := 200;
END
$$;

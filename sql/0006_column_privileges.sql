-- 0006: least privilege down to the column. 0005 let each program write
-- whole rows of the tables it touches; here each keeps only the columns its
-- own statements write, so that neither can rewrite the other's part of the
-- record:
-- - the server cannot forge an extraction's outcome (the clip and manifest
--   paths and SHA-256 sums, the claim, the fulfilment time): those are the
--   indexer's, which cut the clip and hashed it;
-- - the server cannot change who asked, for which case, camera and window,
--   once a request exists, nor the station or opener of a case, nor a
--   camera's code (the directory name its recordings are filed under);
-- - the indexer creates a camera it finds on disk only as a bare code,
--   unregistered: registering it (station, owner) is the admins'.
-- Both keep reading what they read: the indexer reads cases (the case
-- number and title go into a clip's manifest) but writes nothing there.
--
-- Revoking a table-level privilege also revokes it on every column, so each
-- REVOKE comes first and the column list that follows is all that is left.

REVOKE INSERT, UPDATE ON requests FROM camledger_server;
GRANT INSERT (case_id, camera_id, from_time, to_time, reason, requester_id, idempotency_key)
    ON requests TO camledger_server;
-- status by approve, reject and cancel (the transition trigger sets
-- updated_at itself); first_response by the idempotent create.
GRANT UPDATE (status, decided_by, decided_at, approved_at, decision_reason, first_response)
    ON requests TO camledger_server;

REVOKE INSERT, UPDATE ON cases FROM camledger_server;
GRANT INSERT (number, title, station_id, created_by) ON cases TO camledger_server;
GRANT UPDATE (title, status, updated_at) ON cases TO camledger_server;

REVOKE INSERT, UPDATE ON cameras FROM camledger_server;
GRANT INSERT (code, name, station_id, owner_kind, owner_name, owner_phone, lat, lon, address,
              retention_days, timezone, registered)
    ON cameras TO camledger_server;
GRANT UPDATE (name, station_id, owner_kind, owner_name, owner_phone, lat, lon, address,
              retention_days, timezone, registered, updated_at)
    ON cameras TO camledger_server;

REVOKE INSERT ON cameras FROM camledger_indexer;
GRANT INSERT (code) ON cameras TO camledger_indexer;

-- Who may make which move. Both programs may write requests.status (the
-- server decides, the indexer records the outcome), so the column grant
-- alone would let the server mark a request fulfilled with no clip, or the
-- indexer approve one. A second trigger asks who is moving it: a member of
-- camledger_indexer alone may not decide, a member of camledger_server
-- alone may not record an outcome. The schema owner and superusers
-- (members of both, or of neither) keep every move, for repairs. Triggers
-- fire in name order, so the life cycle check (requests_transition) still
-- answers an impossible move first.
CREATE FUNCTION cl_request_mover_check() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_server boolean := pg_has_role(current_user, 'camledger_server', 'MEMBER');
    v_indexer boolean := pg_has_role(current_user, 'camledger_indexer', 'MEMBER');
    v_outcome boolean := NEW.status IN ('fulfilled', 'partial', 'unavailable', 'failed');
BEGIN
    IF NEW.status = OLD.status THEN
        RETURN NEW;
    END IF;
    IF v_outcome AND v_server AND NOT v_indexer THEN
        RAISE EXCEPTION 'request %: only the indexer records an extraction''s outcome', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT v_outcome AND v_indexer AND NOT v_server THEN
        RAISE EXCEPTION 'request %: the indexer does not decide requests', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER requests_transition_mover BEFORE UPDATE OF status ON requests
    FOR EACH ROW EXECUTE FUNCTION cl_request_mover_check();

-- No DDL for anyone but the owner, whatever the cluster's defaults: before
-- PostgreSQL 15 every role could create in schema public, and every role
-- may create temporary tables unless told otherwise. Neither program uses
-- either. (Run by a schema owner who owns neither the database nor schema
-- public, these only warn. Whoever owns those should then run them, and
-- GRANT CREATE ON SCHEMA public to the schema owner if it created its
-- tables through PUBLIC's old default, so that later migrations can still
-- create.)
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
DO $$
BEGIN
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
END
$$;

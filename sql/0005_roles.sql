-- 0005: least privilege. camledger-server and camledger-indexer connect as
-- login roles that are members of these two group roles, which hold only
-- what each program needs: no DDL (they own nothing), the audit log INSERT
-- and SELECT only, the indexer nothing on cases and only the claim and
-- fulfilment columns of requests. Migrations run as the schema owner.
--
-- Creating roles needs CREATEROLE; a schema owner without it can have a
-- superuser create the two roles first (CREATE ROLE camledger_server
-- NOLOGIN; CREATE ROLE camledger_indexer NOLOGIN), and this migration then
-- only grants.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'camledger_server') THEN
        CREATE ROLE camledger_server NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'camledger_indexer') THEN
        CREATE ROLE camledger_indexer NOLOGIN;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO camledger_server, camledger_indexer;

-- The server: reads everything; writes cameras, cases and requests; appends
-- to the audit log.
GRANT SELECT ON ALL TABLES IN SCHEMA public TO camledger_server;
GRANT INSERT, UPDATE ON cameras, cases, requests TO camledger_server;
GRANT INSERT ON audit_log TO camledger_server;

-- The indexer: writes recordings and unregistered cameras; claims and
-- fulfils requests; appends to the audit log.
GRANT SELECT ON schema_migrations, stations, cameras, recordings, cases, requests, users,
    audit_log TO camledger_indexer;
GRANT INSERT, UPDATE ON recordings TO camledger_indexer;
GRANT INSERT ON cameras TO camledger_indexer;
GRANT UPDATE (status, claimed_by, claimed_until, attempts, next_attempt_at, last_error,
              fulfilled_at, clip_path, clip_sha256, clip_size, clip_duration_ms, manifest_path,
              manifest_sha256, manifest_size, coverage, updated_at)
    ON requests TO camledger_indexer;
GRANT INSERT ON audit_log TO camledger_indexer;

-- cl_audit takes the entry's id from the identity sequence itself, so the
-- chain order is the id order.
GRANT USAGE ON SEQUENCE audit_log_id_seq TO camledger_server, camledger_indexer;

-- Changes made outside the command log. The consumer (role jpw_writer) only ever inserts what a
-- command in WRITES says, so replay can rebuild those rows; anything else that changes users or
-- orders (manual SQL, a migration's backfill, another tool) is recorded here with who and when, so
-- `just replay --verify` can list such rows as changed outside the log instead of reporting them as
-- failures of the log. The consumer's inserts skip the trigger entirely: its WHEN condition is
-- evaluated before any function call, so they cost one role comparison per row.
--
-- The table is not in the publication Debezium reads (jpw_cdc lists users and orders only), and
-- nothing but its owner may read or write it: the trigger function runs as the owner.

CREATE TABLE audit_log (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL DEFAULT clock_timestamp(),
  -- The role that made the change (SET ROLE's, else the one that logged in), and its client's
  -- application_name (psql, a migration: `just migrate` names the file).
  role text NOT NULL,
  application text NOT NULL,
  table_name text NOT NULL,
  op text NOT NULL CHECK (op IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE')),
  -- The row's id before and after (an UPDATE may change it); both null for TRUNCATE.
  old_id uuid,
  new_id uuid,
  old_row jsonb,
  new_row jsonb
);
CREATE INDEX audit_log_old_id_idx ON audit_log (old_id) WHERE old_id IS NOT NULL;
CREATE INDEX audit_log_new_id_idx ON audit_log (new_id) WHERE new_id IS NOT NULL;
REVOKE ALL ON audit_log FROM PUBLIC;

CREATE FUNCTION audit_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  -- Inside a SECURITY DEFINER function current_user is the owner; the `role` setting still holds
  -- what SET ROLE chose ('none' when it was not used).
  INSERT INTO public.audit_log (role, application, table_name, op, old_id, new_id, old_row, new_row)
  VALUES (
    CASE WHEN current_setting('role') = 'none' THEN session_user ELSE current_setting('role') END,
    current_setting('application_name'),
    TG_TABLE_NAME,
    TG_OP,
    CASE WHEN TG_LEVEL = 'ROW' AND TG_OP IN ('UPDATE', 'DELETE') THEN OLD.id END,
    CASE WHEN TG_LEVEL = 'ROW' AND TG_OP IN ('INSERT', 'UPDATE') THEN NEW.id END,
    CASE WHEN TG_LEVEL = 'ROW' AND TG_OP IN ('UPDATE', 'DELETE') THEN to_jsonb(OLD) END,
    CASE WHEN TG_LEVEL = 'ROW' AND TG_OP IN ('INSERT', 'UPDATE') THEN to_jsonb(NEW) END
  );
  RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION audit_change() FROM PUBLIC;

CREATE TRIGGER users_audit AFTER INSERT OR UPDATE OR DELETE ON users
  FOR EACH ROW WHEN (current_user <> 'jpw_writer') EXECUTE FUNCTION audit_change();
CREATE TRIGGER users_audit_truncate AFTER TRUNCATE ON users
  FOR EACH STATEMENT EXECUTE FUNCTION audit_change();
CREATE TRIGGER orders_audit AFTER INSERT OR UPDATE OR DELETE ON orders
  FOR EACH ROW WHEN (current_user <> 'jpw_writer') EXECUTE FUNCTION audit_change();
CREATE TRIGGER orders_audit_truncate AFTER TRUNCATE ON orders
  FOR EACH STATEMENT EXECUTE FUNCTION audit_change();

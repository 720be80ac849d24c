-- One key, one row, across both tables: an operationId is the primary key of a user or of an
-- order, never both. The writers skip a row whose id the other table holds, but two commands with
-- one key, one per table, applied at the same moment by the two writers each found the other's
-- row missing (neither had committed) and both committed (found by `just verify`, issue 12).
--
-- Each insert now takes a transaction-scoped advisory lock on its id before it looks at the other
-- table. A query inside a PL/pgSQL function sees what was committed before it ran (READ COMMITTED
-- takes a fresh snapshot per command), so the second insert waits for the first to commit, then
-- sees its row and skips its own; the writer answers it idempotency-key-reused, as for any key
-- already taken. The writers apply their batches in id order, so two batches never wait on each
-- other's locks in opposite orders.

CREATE FUNCTION one_row_per_key() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
  -- 0x6a70 ("jp"): this lock's own space, apart from the migrator's single-key lock.
  PERFORM pg_advisory_xact_lock(27248, hashtext(NEW.id::text));
  IF TG_TABLE_NAME = 'users' THEN
    IF EXISTS (SELECT 1 FROM public.orders WHERE id = NEW.id) THEN RETURN NULL; END IF;
  ELSIF EXISTS (SELECT 1 FROM public.users WHERE id = NEW.id) THEN
    RETURN NULL;
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER users_one_row_per_key BEFORE INSERT ON users
  FOR EACH ROW EXECUTE FUNCTION one_row_per_key();
CREATE TRIGGER orders_one_row_per_key BEFORE INSERT ON orders
  FOR EACH ROW EXECUTE FUNCTION one_row_per_key();

-- Users and orders, their keyset-pagination indexes, the publication Debezium reads, and the
-- least-privilege roles of the services. Roles belong to the cluster, not the database, so they
-- are created only when missing: the same cluster holds many databases (tests, templates).

CREATE TABLE users (
  id uuid PRIMARY KEY,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  email text NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
  created_at timestamptz NOT NULL DEFAULT now()
);
-- An email is taken whatever its case: the consumer maps a violation of this index to 409 email-taken.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
-- Lists are newest first: (created_at, id) is the keyset cursor.
CREATE INDEX users_created_at_id_idx ON users (created_at DESC, id DESC);

CREATE TABLE orders (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users (id),
  items jsonb NOT NULL CHECK (jsonb_typeof(items) = 'array'),
  total numeric(12, 2) NOT NULL CHECK (total >= 0),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_created_at_id_idx ON orders (created_at DESC, id DESC);
CREATE INDEX orders_user_id_created_at_id_idx ON orders (user_id, created_at DESC, id DESC);

-- With the default identity an UPDATE/DELETE event carries only the primary key in `before`; an order
-- moved to another user must invalidate the old user's list too, so orders log the whole old row.
ALTER TABLE orders REPLICA IDENTITY FULL;

-- Debezium reads this publication (publication.autocreate.mode=disabled), so its role needs no table
-- ownership. The default publish list includes truncate, which invalidates a whole table's cache.
CREATE PUBLICATION jpw_cdc FOR TABLE users, orders;

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'jpw_writer') THEN
    CREATE ROLE jpw_writer LOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'jpw_reader') THEN
    CREATE ROLE jpw_reader LOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'jpw_cdc') THEN
    CREATE ROLE jpw_cdc LOGIN REPLICATION;
  END IF;
END
$$;

-- The consumer inserts and reads back what it inserted (idempotent replays); it never updates or deletes.
GRANT SELECT, INSERT ON users, orders TO jpw_writer;
GRANT SELECT ON users, orders TO jpw_reader;
-- Debezium reads table metadata; data arrives through the replication slot.
GRANT SELECT ON users, orders TO jpw_cdc;

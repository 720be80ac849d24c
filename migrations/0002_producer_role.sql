-- The producer answers a deduplicated retry from the row itself (the row is the record of a
-- committed write; issue #9): it reads users and orders by id and never writes. Created only when
-- missing, like the other roles: the same cluster holds many databases.

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'jpw_producer') THEN
    CREATE ROLE jpw_producer LOGIN;
  END IF;
END
$$;

GRANT SELECT ON users, orders TO jpw_producer;

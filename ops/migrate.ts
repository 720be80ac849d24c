// Applies new migrations (migrations/NNNN_name.sql, each in one transaction) to a database.
//
//   tsx ops/migrate.ts [DATABASE_URL]     (default: the local stack's database, as its superuser)
import postgres from "postgres";
import { migrate } from "../services/infra/migrate.ts";
import { stackSecrets } from "./lib/admin.ts";
import { parseCommandLine } from "./lib/args.ts";
import { localUrls } from "./lib/stack-config.ts";

const { positionals } = parseCommandLine(
  { allowPositionals: true, options: {} },
  "usage: tsx ops/migrate.ts [DATABASE_URL]",
);
const url = positionals[0] ?? process.env.MIGRATE_DATABASE_URL ?? localUrls(stackSecrets()).adminDatabaseUrl;
const sql = postgres(url, { onnotice: () => {}, max: 1, connect_timeout: 5 });
try {
  const { applied, total } = await migrate(sql, { log: (l) => console.log(`[migrate] ${l}`) });
  console.log(
    `[migrate] ${applied.length ? `${applied.length} applied` : "nothing to apply"}, ${total} migrations in total (${new URL(url).pathname.slice(1)})`,
  );
} catch (err) {
  console.error(`[migrate] ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  await sql.end();
}

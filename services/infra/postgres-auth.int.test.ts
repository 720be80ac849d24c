// Postgres authenticates in every stack (postgres-auth.ts): against a real cluster started by the
// harness with the project's pg_hba.conf, every service role logs in over TCP with its generated
// password only, the superuser is not reachable over TCP without its password, and what Postgres
// stores is a SCRAM verifier, never the password.
import { readFileSync } from "node:fs";
import postgres from "postgres";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { startPostgres } from "../testing/postgres.ts";
import { testSecrets } from "../testing/secrets.ts";
import { pgHba, scramVerifier } from "./postgres-auth.ts";
import { postgresRoles } from "./secrets.ts";

const pg = await startPostgres({ own: true });
const db = await pg.createDatabase("auth");
const passwords = testSecrets().postgres;

async function login(url: string): Promise<Error | undefined> {
  const sql = postgres(url, { max: 1, connect_timeout: 5, onnotice: () => {} });
  try {
    await sql`select 1`;
    return undefined;
  } catch (err) {
    return err as Error;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

const withPassword = (role: string, password: string) => {
  const u = new URL(db.urlAs(role));
  u.password = encodeURIComponent(password);
  return u.toString();
};

test("every role logs in over TCP with its password, and with no other", async () => {
  for (const role of postgresRoles) {
    assert.is(await login(db.urlAs(role)), undefined, `${role} logs in with its password`);
    const wrong = await login(
      withPassword(role, passwords.jpw_reader === passwords[role] ? "x" : passwords.jpw_reader),
    );
    assert.match(String(wrong?.message), /password authentication failed/, `${role} with another's password`);
  }
});

test("the superuser is not reachable over TCP without its password", async () => {
  const u = new URL(db.url);
  u.password = "";
  const err = await login(u.toString());
  assert.ok(err, "a password-less superuser login was accepted");
  assert.match(err.message, /password|SASL|authentication/i);
});

test("Postgres stores SCRAM verifiers, and pg_hba.conf trusts no one", async () => {
  const sql = postgres(db.url, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql<{ rolname: string; rolpassword: string }[]>`
      select rolname, rolpassword from pg_authid where rolname = any(${postgresRoles as unknown as string[]})`;
    assert.is(rows.length, postgresRoles.length);
    for (const r of rows) {
      assert.match(r.rolpassword, /^SCRAM-SHA-256\$4096:/, `${r.rolname}'s password is a verifier`);
      assert.not.ok(r.rolpassword.includes(passwords[r.rolname as keyof typeof passwords]));
    }
    const [hba] = await sql<
      { file: string }[]
    >`select setting as file from pg_settings where name = 'hba_file'`;
    const text = readFileSync(hba!.file, "utf8");
    assert.is(text, pgHba());
    assert.not.match(text, /\btrust\b|\bpassword\b|\bmd5\b/);
  } finally {
    await sql.end();
  }
});

test("a verifier is fresh each time (its own salt) and names the iterations", () => {
  const a = scramVerifier("same");
  assert.is.not(a, scramVerifier("same"));
  assert.match(a, /^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
});

test.after(async () => {
  await db.drop();
  await pg[Symbol.asyncDispose]();
});

test.run();

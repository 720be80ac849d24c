// Servers that cannot or may not be reconciled, each failing with a message that says what to do;
// and a server whose fsync policy loses acknowledged writes, which earns a warning.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  apply,
  CredentialsError,
  connectTo,
  JetStreamDisabledError,
  loadSpecFile,
  PermissionDeniedError,
  plan,
} from "./mod.ts";
import { startCustomNats } from "./testing.ts";

const project = () => loadSpecFile(undefined, { env: {} });

async function failure(fn: () => Promise<unknown>): Promise<Error> {
  try {
    await fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a failure");
}

const refused = suite("servers that cannot be reconciled");

refused(
  "a server without JetStream fails the plan with JetStream disabled and how to enable it",
  async () => {
    await using server = await startCustomNats(() => "");
    await using nc = await connectTo(server.url);
    const err = await failure(() => plan(nc, project()));
    assert.instance(err, JetStreamDisabledError);
    assert.match(
      err.message,
      /JetStream is not enabled on nats-server at nats:\/\/127\.0\.0\.1:\d+: start it with -js or a jetstream \{\} block/,
    );
  },
);

refused("an account without JetStream fails the plan naming the account setting", async () => {
  await using server = await startCustomNats(
    (dir) => `jetstream { store_dir: ${JSON.stringify(`${dir}/js`)} }
accounts { APP { users: [ { user: app, password: pw } ] } }`,
  );
  await using nc = await connectTo(server.url.replace("nats://", "nats://app:pw@"));
  const err = await failure(() => plan(nc, project()));
  assert.instance(err, JetStreamDisabledError);
  assert.match(
    err.message,
    /JetStream is not enabled for this account .*add "jetstream: enabled" to the account/,
  );
});

refused(
  "a user who may read but not create streams plans, then apply is denied naming the subject",
  async () => {
    await using server = await startCustomNats(
      (dir) => `jetstream { store_dir: ${JSON.stringify(`${dir}/js`)} }
accounts { APP {
  jetstream: enabled
  users: [ { user: viewer, password: pw, permissions: {
    publish: { allow: ["$JS.API.INFO", "$JS.API.STREAM.LIST", "$JS.API.CONSUMER.LIST.>"] }
    subscribe: { allow: ["_INBOX.>"] } } } ]
} }`,
    );
    await using nc = await connectTo(server.url.replace("nats://", "nats://viewer:pw@"));
    const p = await plan(nc, project());
    assert.is(p.changes.filter((c) => c.action === "create").length, 7, "reading is allowed");
    const err = await failure(() => apply(nc, p));
    assert.instance(err, PermissionDeniedError);
    assert.match(
      err.message,
      /permission denied to create stream WRITES: this NATS user may not publish to \$JS\.API\.STREAM\.CREATE\.WRITES \(grant it publish on \$JS\.API\.> and subscribe on _INBOX\.>\)/,
    );
  },
);

refused(
  "wrong credentials fail to connect with a message about the credentials, password hidden",
  async () => {
    await using server = await startCustomNats(
      (dir) => `jetstream { store_dir: ${JSON.stringify(`${dir}/js`)} }
authorization { user: admin, password: right }`,
    );
    const err = await failure(() => connectTo(server.url.replace("nats://", "nats://admin:wrong@")));
    assert.instance(err, CredentialsError);
    assert.match(err.message, /nats-server at nats:\/\/\*\*\*@127\.0\.0\.1:\d+ refused our credentials/);
    assert.not.match(err.message, /wrong/);
    await using nc = await connectTo(server.url.replace("nats://", "nats://admin:right@"));
    assert.is((await plan(nc, project())).changes.length, 7);
  },
);

refused.run();

const durability = suite("durability warnings");

durability("a server that fsyncs lazily earns a warning from /varz, and the plan still works", async () => {
  await using server = await startCustomNats(
    (dir) => `jetstream { store_dir: ${JSON.stringify(`${dir}/js`)} }`,
  );
  await using nc = await connectTo(server.url);
  const p = await plan(nc, project(), { monitorUrl: server.monitorUrl, env: {} });
  assert.equal(p.warnings, [
    `nats-server at ${server.url} fsyncs only every 2m, after acknowledging: a power loss can lose acknowledged writes. Set jetstream { sync_interval: always } in its config`,
  ]);
  assert.is(p.server.sync?.always, false);
});

durability("without a monitoring URL the plan says the fsync policy was not checked", async () => {
  await using server = await startCustomNats(
    (dir) => `jetstream { store_dir: ${JSON.stringify(`${dir}/js`)} }`,
  );
  await using nc = await connectTo(server.url);
  const p = await plan(nc, project(), { env: {} });
  assert.equal(p.warnings, [
    "fsync policy not checked: no monitoring URL given (--monitor http://host:8222)",
  ]);
});

durability.run();

// Who may do what on NATS: one user per service with only the subjects it uses, Debezium, and an
// unrestricted `admin` (the reconciler, `just dlq`, `just nats`, people). Every stack renders its
// nats-server `authorization` block from this one list: the local stack, the test harness, the
// compose file and a deployed server. Anything not allowed is denied.
//
// The lists follow what each service's code calls (nats.js 3.4 subjects):
//   jetstreamManager()            $JS.API.INFO
//   jsm.streams.info(s)           $JS.API.STREAM.INFO.<s>
//   jsm.consumers.info(s, c)      $JS.API.CONSUMER.INFO.<s>.<c>   (also js.consumers.get)
//   consumer.consume()/next()     $JS.API.CONSUMER.MSG.NEXT.<s>.<c>, messages to the own inbox
//   msg.ack()/nak()/working()     $JS.ACK.<s>.<c>.>  (the message's reply subject)
//   js.publish(subject)           the subject; the PubAck to the own inbox
//   kv.get(k)                     $JS.API.DIRECT.GET.KV_<b>.$KV.<b>.<k> (allow_direct) or
//                                 $JS.API.STREAM.MSG.GET.KV_<b>
//   kv.put/create/update(k)       $KV.<b>.<k>
//   jsm.streams.purge/getMessage  $JS.API.STREAM.PURGE.<s>, $JS.API.STREAM.MSG.GET.<s>
//   jsm.streams.list()            $JS.API.STREAM.LIST; jsm.consumers.list(s) $JS.API.CONSUMER.LIST.<s>
// Every reply of a JetStream API call, PubAck and pulled message comes to the user's own inbox
// prefix (inboxPrefixOf), the only place it may subscribe, so no user reads another's replies.
import bcrypt from "bcryptjs";
import { cdcConsumer, cdcStream } from "../shared/cdc.ts";
import { inboxPrefixOf, writeReplyPrefix } from "../shared/nats.ts";
import { operationsBucket } from "../shared/operations.ts";
import {
  consumerName,
  decisionSubject,
  dlqStream,
  dlqSubject,
  tables,
  writeSubject,
  writesStream,
} from "../shared/writes.ts";
import type { NatsUser } from "./secrets.ts";

export interface Permissions {
  publish: string[];
  subscribe: string[];
}

const api = "$JS.API";
const kvStream = `KV_${operationsBucket}`;
const writers = tables.map(consumerName);

/** Reading outcome records: direct gets (allow_direct) and stream message gets. */
const readOperations = [
  `${api}.DIRECT.GET.${kvStream}`,
  `${api}.DIRECT.GET.${kvStream}.>`,
  `${api}.STREAM.MSG.GET.${kvStream}`,
];

/** `admin` is absent: it may do anything. */
export const natsPermissions: Record<Exclude<NatsUser, "admin">, Permissions> = {
  // Publishes commands, reads the writers' backlogs and outcome records, records `accepted`, and
  // receives the consumer's replies under its write-reply prefix.
  producer: {
    publish: [
      ...tables.map(writeSubject),
      `${api}.INFO`,
      `${api}.STREAM.INFO.${writesStream}`,
      `${api}.STREAM.INFO.${kvStream}`,
      ...writers.map((c) => `${api}.CONSUMER.INFO.${writesStream}.${c}`),
      ...readOperations,
      `$KV.${operationsBucket}.>`,
    ],
    subscribe: [`${inboxPrefixOf("producer")}.>`, `${writeReplyPrefix}.>`],
  },
  // Pulls its two writers and acks their messages, dead-letters, records decisions (KV and
  // writes.outcomes.*), trims applied history (stream info, message get by time, purge of WRITES),
  // and answers the producer's write replies: the only replies it may publish.
  consumer: {
    publish: [
      `${api}.INFO`,
      `${api}.STREAM.INFO.${writesStream}`,
      `${api}.STREAM.INFO.${dlqStream}`,
      `${api}.STREAM.INFO.${kvStream}`,
      ...writers.flatMap((c) => [
        `${api}.CONSUMER.INFO.${writesStream}.${c}`,
        `${api}.CONSUMER.MSG.NEXT.${writesStream}.${c}`,
        `$JS.ACK.${writesStream}.${c}.>`,
      ]),
      `${api}.STREAM.MSG.GET.${writesStream}`,
      `${api}.STREAM.PURGE.${writesStream}`,
      ...tables.map(dlqSubject),
      ...tables.map(decisionSubject),
      ...readOperations,
      `$KV.${operationsBucket}.>`,
      `${writeReplyPrefix}.>`,
    ],
    subscribe: [`${inboxPrefixOf("consumer")}.>`],
  },
  // Pulls CDC on its durable consumer, reads outcome records, and lists streams and consumers for
  // the system panel (information only: no create, update, delete or purge).
  reader: {
    publish: [
      `${api}.INFO`,
      `${api}.STREAM.LIST`,
      `${api}.STREAM.INFO.*`,
      `${api}.CONSUMER.LIST.*`,
      `${api}.CONSUMER.INFO.${cdcStream}.${cdcConsumer}`,
      `${api}.CONSUMER.MSG.NEXT.${cdcStream}.${cdcConsumer}`,
      `$JS.ACK.${cdcStream}.${cdcConsumer}.>`,
      ...readOperations,
    ],
    subscribe: [`${inboxPrefixOf("reader")}.>`],
  },
  // Debezium Server's sink publishes change events and heartbeats under cdc.> and waits for their
  // PubAcks on jnats's default inbox prefix, which no service of ours uses.
  debezium: {
    publish: ["cdc.>"],
    subscribe: ["_INBOX.>"],
  },
};

/**
 * bcrypt's work factor exists to slow down guessing of passwords people choose; these are 256-bit
 * random secrets, which no work factor makes easier or harder to guess. nats-server checks the hash
 * at every connect and reconnect, so a high factor would only cost CPU (cost 10: ~100 ms per
 * connection on the project's VM; 6: ~5 ms).
 */
const bcryptCost = 6;

/** A nats-server config value: the bcrypt hash of a password (nats-server knows `$2a$`/`$2b$`). */
export const natsPasswordHash = (password: string) => bcrypt.hashSync(password, bcryptCost);

/**
 * The `authorization { users: [...] }` block of nats-server's config. `password(user)` gives each
 * user's config value: a quoted bcrypt hash, or a `$VARIABLE` nats-server reads from its
 * environment (compose).
 */
export function natsAuthorization(password: (user: NatsUser) => string): string {
  const quote = (s: string) => JSON.stringify(s);
  const list = (xs: string[]) => `[${xs.map(quote).join(", ")}]`;
  const users = (Object.keys(natsPermissions) as Exclude<NatsUser, "admin">[]).map((user) => {
    const p = natsPermissions[user];
    return `    { user: ${user}, password: ${password(user)}, permissions: {
        publish: { allow: ${list(p.publish)} }
        subscribe: { allow: ${list(p.subscribe)} }
    } }`;
  });
  return `authorization {
  users: [
    { user: admin, password: ${password("admin")} }
${users.join("\n")}
  ]
}
`;
}

/** The block for secrets at hand: bcrypt hashes in the file, the passwords nowhere. */
export const natsAuthorizationFor = (passwords: Record<NatsUser, string>) =>
  natsAuthorization((u) => JSON.stringify(natsPasswordHash(passwords[u])));

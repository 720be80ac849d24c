import { test } from "uvu";
import * as assert from "uvu/assert";
import { redactSecrets, redactUrl } from "./redact.ts";

test("a database URL keeps its user, host and database and loses its password", () => {
  assert.is(
    redactUrl("postgres://jpw_reader:s3cr3t-_x@127.0.0.1:15432/jpw"),
    "postgres://jpw_reader:***@127.0.0.1:15432/jpw",
  );
  assert.is(redactUrl("redis://reader:abc@localhost:16379/2"), "redis://reader:***@localhost:16379/2");
});

test("a URL without credentials is left as it is", () => {
  for (const url of ["nats://127.0.0.1:14222", "postgres://postgres@127.0.0.1/jpw", "http://a/b?c=d@e"]) {
    assert.is(redactUrl(url), url);
  }
});

test("a NATS token in a URL is hidden", () => {
  assert.is(redactUrl("nats://t0ken@127.0.0.1:4222"), "nats://***@127.0.0.1:4222");
});

test("every URL inside a message is redacted", () => {
  assert.is(
    redactSecrets("cannot reach postgres://a:b@h/db nor redis://c:d@h:1 (timeout)"),
    "cannot reach postgres://a:***@h/db nor redis://c:***@h:1 (timeout)",
  );
});

test.run();

import { suite } from "uvu";
import * as assert from "uvu/assert";
import { subjectIsSubset, subjectProblem, subjectsCollide } from "./subjects.ts";

const subjects = suite("subjects");

subjects("valid subjects have no problem and malformed ones say why", () => {
  for (const s of ["writes.>", "writes.users", "a.*.c", ">", "$KV.operations.>"]) {
    assert.is(subjectProblem(s), undefined, s);
  }
  assert.match(subjectProblem("writes..users")!, /empty token/);
  assert.match(subjectProblem("writes.")!, /empty token/);
  assert.match(subjectProblem("writes.>.x")!, /> before the last token/);
  assert.match(subjectProblem("writes.us*")!, /wildcard inside/);
  assert.match(subjectProblem("writes users")!, /whitespace/);
  assert.match(subjectProblem("")!, /empty/);
});

subjects("subjects collide when one message could match both", () => {
  const collide: [string, string][] = [
    ["writes.>", "writes.users"],
    ["writes.*", "writes.users"],
    ["*.users", "writes.*"],
    [">", "anything.at.all"],
    ["a.b", "a.b"],
  ];
  for (const [a, b] of collide) {
    assert.ok(subjectsCollide(a, b), `${a} / ${b}`);
    assert.ok(subjectsCollide(b, a), `${b} / ${a}`);
  }
  const apart: [string, string][] = [
    ["writes.>", "dlq.writes.>"],
    ["writes.>", "writes"],
    ["a.*", "a.b.c"],
    ["cdc.>", "$KV.operations.>"],
  ];
  for (const [a, b] of apart) {
    assert.not.ok(subjectsCollide(a, b), `${a} / ${b}`);
    assert.not.ok(subjectsCollide(b, a), `${b} / ${a}`);
  }
});

subjects("a filter is a subset of a subject only when every match of it matches the subject", () => {
  assert.ok(subjectIsSubset("writes.users", "writes.>"));
  assert.ok(subjectIsSubset("cdc.public.>", "cdc.>"));
  assert.ok(subjectIsSubset("a.*", "a.>"));
  assert.ok(subjectIsSubset("a.b", "a.*"));
  assert.ok(subjectIsSubset("a.>", "a.>"));
  assert.not.ok(subjectIsSubset("a.>", "a.*"));
  assert.not.ok(subjectIsSubset("a.*", "a.b"));
  assert.not.ok(subjectIsSubset("cdc", "cdc.>"));
  assert.not.ok(subjectIsSubset("nope.users", "writes.>"));
});

subjects.run();

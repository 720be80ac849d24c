// The Vultr client's requests, built and checked without sending anything: a recording transport
// answers with bodies shaped as Vultr's API v2 documents them.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type ApiRequest, loadVultrSettings, requests, VultrClient, VultrError } from "./vultr.ts";

function recorder(answers: [number, unknown][]) {
  const sent: ApiRequest[] = [];
  const client = new VultrClient("secret-token", async (r) => {
    sent.push(r);
    const [status, body] = answers.shift() ?? [500, { error: "no answer scripted" }];
    return { status, body: body === undefined ? "" : JSON.stringify(body) };
  });
  return { client, sent };
}

test("creating a server posts plan, region, image, the key id and base64 user data with the bearer token", async () => {
  const { client, sent } = recorder([
    [202, { instance: { id: "i-1", main_ip: "0.0.0.0", status: "pending" } }],
  ]);
  const i = await client.createInstance({
    region: "atl",
    plan: "vc2-2c-4gb",
    osId: 2625,
    label: "jpw",
    sshKeyId: "k-1",
    userData: "#cloud-config\n",
  });
  assert.is(i.id, "i-1");
  const r = sent[0]!;
  assert.is(r.method, "POST");
  assert.is(r.url, "https://api.vultr.com/v2/instances");
  assert.is(r.headers.authorization, "Bearer secret-token");
  assert.is(r.headers["content-type"], "application/json");
  const body = JSON.parse(r.body!);
  assert.equal(
    {
      region: body.region,
      plan: body.plan,
      os_id: body.os_id,
      sshkey_id: body.sshkey_id,
      backups: body.backups,
    },
    { region: "atl", plan: "vc2-2c-4gb", os_id: 2625, sshkey_id: ["k-1"], backups: "disabled" },
  );
  assert.is(Buffer.from(body.user_data, "base64").toString(), "#cloud-config\n");
});

test("the deployer's key is reused when Vultr has it, registered when it does not", async () => {
  const key = "ssh-ed25519 AAAAC3Nza me@laptop";
  const known = recorder([
    [200, { ssh_keys: [{ id: "k-9", name: "old name", ssh_key: "ssh-ed25519 AAAAC3Nza other-comment" }] }],
  ]);
  assert.is(await known.client.sshKeyId("jpw-jpw", key), "k-9");
  assert.is(known.sent.length, 1, "no new key registered");
  const fresh = recorder([
    [200, { ssh_keys: [] }],
    [201, { ssh_key: { id: "k-2", name: "jpw-jpw", ssh_key: key } }],
  ]);
  assert.is(await fresh.client.sshKeyId("jpw-jpw", key), "k-2");
  assert.is(fresh.sent[1]!.url, "https://api.vultr.com/v2/ssh-keys");
  assert.equal(JSON.parse(fresh.sent[1]!.body!), { name: "jpw-jpw", ssh_key: key });
});

test("the image is found by the start of its name across pages of GET /os", async () => {
  const { client, sent } = recorder([
    [200, { os: [{ id: 2136, name: "Debian 12 x64 (bookworm)" }], meta: { links: { next: "c2" } } }],
    [200, { os: [{ id: 2625, name: "Debian 13 x64 (trixie)" }], meta: { links: { next: "" } } }],
  ]);
  assert.is(await client.osId("Debian 13 x64"), 2625);
  assert.is(sent[1]!.url, "https://api.vultr.com/v2/os?per_page=500&cursor=c2");
  assert.is(await client.osId("1743"), 1743, "a number is taken as the id itself");
});

test("waiting returns once the server is active with its address", async () => {
  const { client } = recorder([
    [200, { instance: { id: "i-1", main_ip: "0.0.0.0", status: "pending" } }],
    [200, { instance: { id: "i-1", main_ip: "203.0.113.7", status: "active", power_status: "running" } }],
  ]);
  const i = await client.waitRunning("i-1", { intervalMs: 1 });
  assert.is(i.main_ip, "203.0.113.7");
});

test("an API error names the call and hints at the token, never showing it; deleting a gone server is fine", async () => {
  const { client } = recorder([[401, { error: "Invalid API token." }]]);
  const err = await client
    .createInstance({ region: "atl", plan: "p", osId: 1, label: "jpw", sshKeyId: "k", userData: "" })
    .catch((e) => e);
  assert.instance(err, VultrError);
  assert.match(err.message, /create the server: HTTP 401 Invalid API token\. \(is VULTR_API_KEY right/);
  assert.not.match(err.message, /secret-token/);
  const gone = recorder([[404, { error: "Invalid instance-id." }]]);
  await gone.client.deleteInstance("i-1");
  assert.is(requests.deleteInstance("i-1").method, "DELETE");
});

test("settings come from the environment with documented defaults; a missing token says where to get one", () => {
  const s = loadVultrSettings({ VULTR_API_KEY: "t" });
  assert.equal(
    [s.JPW_VULTR_PLAN, s.JPW_VULTR_REGION, s.JPW_VULTR_OS, s.JPW_VULTR_LABEL],
    ["vc2-2c-4gb", "atl", "Debian 13 x64", "jpw"],
  );
  assert.throws(() => loadVultrSettings({}), /VULTR_API_KEY is not set/);
});

test.run();

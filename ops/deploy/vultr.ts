// Vultr's HTTP API v2, the few calls `just go` and `just destroy` need. Every request is built by a
// pure function first (tests check them without sending anything); `send` is the only place that
// touches the network.
import { type } from "arktype";
import { loadConfig } from "../../services/shared/config.ts";

export const vultrApi = "https://api.vultr.com/v2";

/** `just go`'s choices, from the environment, with the defaults the README documents. */
export const VultrSettings = type({
  VULTR_API_KEY: "string > 0",
  // 2 vCPUs and 4 GB, as the original: Debezium's JVM, Postgres, NATS and three services fit.
  JPW_VULTR_PLAN: "string > 0 = 'vc2-2c-4gb'",
  JPW_VULTR_REGION: "string > 0 = 'atl'",
  // An OS id, or the start of its name in Vultr's list (GET /v2/os).
  JPW_VULTR_OS: "string > 0 = 'Debian 13 x64'",
  JPW_VULTR_LABEL: "/^[a-z0-9-]{1,63}$/ = 'jpw'",
});
export type VultrSettings = typeof VultrSettings.infer;

export const loadVultrSettings = (env: Record<string, string | undefined> = process.env) => {
  if (!env.VULTR_API_KEY) {
    throw new Error(
      "VULTR_API_KEY is not set: create an API key at my.vultr.com → Account → API (allow your IP) and export it",
    );
  }
  return loadConfig(VultrSettings, env);
};

export interface ApiRequest {
  method: "GET" | "POST" | "DELETE";
  url: string;
  headers: Record<string, string>;
  body?: string;
}

export interface ApiResponse {
  status: number;
  body: string;
}

export type Send = (r: ApiRequest) => Promise<ApiResponse>;

export class VultrError extends Error {
  override name = "VultrError";
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

const Os = type({ id: "number", name: "string", "+": "ignore" });
const OsList = type({
  os: Os.array(),
  "meta?": { "links?": { "next?": "string", "+": "ignore" }, "+": "ignore" },
});
const SshKey = type({ id: "string", name: "string", ssh_key: "string", "+": "ignore" });
const SshKeyList = type({
  ssh_keys: SshKey.array(),
  "meta?": { "links?": { "next?": "string", "+": "ignore" }, "+": "ignore" },
});
const Instance = type({
  id: "string",
  main_ip: "string",
  status: "string",
  "server_status?": "string",
  "power_status?": "string",
  "+": "ignore",
});
export type Instance = typeof Instance.infer;

function parse<T>(
  schema: (data: unknown) => T | InstanceType<typeof type.errors>,
  body: string,
  what: string,
): T {
  const out = schema(JSON.parse(body));
  if (out instanceof type.errors) throw new VultrError(`unexpected answer to ${what}: ${out.summary}`);
  return out as T;
}

export interface CreateInstance {
  region: string;
  plan: string;
  osId: number;
  label: string;
  sshKeyId: string;
  userData: string;
}

/** The requests, as data. */
export const requests = {
  listOs: (cursor?: string) =>
    get(`/os?per_page=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`),
  listSshKeys: (cursor?: string) =>
    get(`/ssh-keys?per_page=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`),
  createSshKey: (name: string, publicKey: string) => post("/ssh-keys", { name, ssh_key: publicKey.trim() }),
  createInstance: (o: CreateInstance) =>
    post("/instances", {
      region: o.region,
      plan: o.plan,
      os_id: o.osId,
      label: o.label,
      hostname: o.label,
      sshkey_id: [o.sshKeyId],
      // Vultr wants user data base64-encoded.
      user_data: Buffer.from(o.userData, "utf8").toString("base64"),
      backups: "disabled",
      enable_ipv6: true,
      activation_email: false,
      tags: ["jetstream-pg-writer"],
    }),
  getInstance: (id: string) => get(`/instances/${encodeURIComponent(id)}`),
  deleteInstance: (id: string) => ({
    method: "DELETE" as const,
    url: `${vultrApi}/instances/${encodeURIComponent(id)}`,
  }),
};

function get(path: string) {
  return { method: "GET" as const, url: `${vultrApi}${path}` };
}

function post(path: string, body: unknown) {
  return { method: "POST" as const, url: `${vultrApi}${path}`, body: JSON.stringify(body) };
}

export const sendWithFetch: Send = async (r) => {
  const res = await fetch(r.url, {
    method: r.method,
    headers: r.headers,
    ...(r.body !== undefined ? { body: r.body } : {}),
    signal: AbortSignal.timeout(30_000),
  });
  return { status: res.status, body: await res.text() };
};

export class VultrClient {
  constructor(
    private token: string,
    private send: Send = sendWithFetch,
  ) {}

  /** Adds the bearer token (and a JSON content type to bodies); the token never appears in errors. */
  authorize(r: { method: ApiRequest["method"]; url: string; body?: string }): ApiRequest {
    return {
      ...r,
      headers: {
        authorization: `Bearer ${this.token}`,
        accept: "application/json",
        ...(r.body !== undefined ? { "content-type": "application/json" } : {}),
      },
    };
  }

  private async call(r: { method: ApiRequest["method"]; url: string; body?: string }, what: string) {
    const res = await this.send(this.authorize(r));
    if (res.status >= 200 && res.status < 300) return res.body;
    let detail = res.body.slice(0, 300);
    try {
      detail = (JSON.parse(res.body) as { error?: string }).error ?? detail;
    } catch {}
    const hint =
      res.status === 401 || res.status === 403
        ? " (is VULTR_API_KEY right, and is this machine's IP allowed under Account → API?)"
        : "";
    throw new VultrError(`Vultr ${what}: HTTP ${res.status} ${detail}${hint}`, res.status);
  }

  async osId(nameOrId: string): Promise<number> {
    if (/^\d+$/.test(nameOrId)) return Number(nameOrId);
    const all: { id: number; name: string }[] = [];
    let cursor: string | undefined;
    do {
      const page = parse(OsList, await this.call(requests.listOs(cursor), "list OS images"), "GET /os");
      all.push(...page.os);
      cursor = page.meta?.links?.next || undefined;
    } while (cursor);
    const match = all.find((o) => o.name.startsWith(nameOrId));
    if (!match) {
      const debian = all.filter((o) => /debian/i.test(o.name)).map((o) => `${o.id} ${o.name}`);
      throw new VultrError(
        `no Vultr image named ${nameOrId}… (Debian images: ${debian.join(", ") || "none"})`,
      );
    }
    return match.id;
  }

  /** The id of the deployer's public key at Vultr, registering it under `name` if it is not there yet. */
  async sshKeyId(name: string, publicKey: string): Promise<string> {
    const material = publicKey.trim().split(/\s+/).slice(0, 2).join(" ");
    let cursor: string | undefined;
    do {
      const page = parse(
        SshKeyList,
        await this.call(requests.listSshKeys(cursor), "list SSH keys"),
        "GET /ssh-keys",
      );
      const same = page.ssh_keys.find(
        (k) => k.ssh_key.trim().split(/\s+/).slice(0, 2).join(" ") === material,
      );
      if (same) return same.id;
      cursor = page.meta?.links?.next || undefined;
    } while (cursor);
    const created = parse(
      type({ ssh_key: SshKey }),
      await this.call(requests.createSshKey(name, publicKey), "register the SSH key"),
      "POST /ssh-keys",
    );
    return created.ssh_key.id;
  }

  async createInstance(o: CreateInstance): Promise<Instance> {
    const body = await this.call(requests.createInstance(o), "create the server");
    return parse(type({ instance: Instance }), body, "POST /instances").instance;
  }

  async instance(id: string): Promise<Instance> {
    const body = await this.call(requests.getInstance(id), "read the server");
    return parse(type({ instance: Instance }), body, "GET /instances/:id").instance;
  }

  async deleteInstance(id: string): Promise<void> {
    try {
      await this.call(requests.deleteInstance(id), "delete the server");
    } catch (err) {
      // Already gone is what we wanted.
      if (!(err instanceof VultrError && err.status === 404)) throw err;
    }
  }

  /** Polls until the server runs and has its address (Vultr reports 0.0.0.0 while it is being built). */
  async waitRunning(
    id: string,
    o: { timeoutMs?: number; intervalMs?: number; progress?: (i: Instance) => void } = {},
  ): Promise<Instance> {
    const deadline = Date.now() + (o.timeoutMs ?? 10 * 60_000);
    for (;;) {
      const i = await this.instance(id);
      o.progress?.(i);
      if (i.status === "active" && i.power_status !== "stopped" && i.main_ip && i.main_ip !== "0.0.0.0")
        return i;
      if (Date.now() > deadline) {
        throw new VultrError(
          `server ${id} is not running after ${(o.timeoutMs ?? 600_000) / 1000}s (status ${i.status})`,
        );
      }
      await new Promise((r) => setTimeout(r, o.intervalMs ?? 5000));
    }
  }
}

// The plan and apply commands behind cli.ts, as a function of argv that returns the exit code:
// plan 0 = in sync, 2 = changes pending, 1 = error; apply 0 = done (or nothing to do), 1 = error
// or refused.
import { parseArgs } from "node:util";
import { apply } from "../../services/infra/reconcile/apply.ts";
import { hasChanges, plan } from "../../services/infra/reconcile/plan.ts";
import { planJson, renderPlan } from "../../services/infra/reconcile/render.ts";
import { connectTo, redact } from "../../services/infra/reconcile/server.ts";
import { defaultSpecFile, loadSpecFile } from "../../services/infra/reconcile/spec.ts";
import { color } from "../../services/infra/term.ts";
import { adminNatsAuth } from "../lib/admin.ts";
import { localUrls } from "../lib/stack-config.ts";
import { streamsEnv } from "../lib/stack-setup.ts";

const usage = `Usage: tsx ops/reconcile/cli.ts plan|apply [options]

  plan                  show what apply would change; exit 0 in sync, 2 changes pending, 1 error
  apply                 make the server match streams.yaml; exit 0 done, 1 error or refused

  --json                print the plan (and apply's result) as JSON
  --allow-destructive   let apply make the changes that lose data: delete and recreate what cannot
                        change in place, lower a limit below what a stream or bucket holds
                        (without it apply makes every other change, then refuses those)
  --prune               delete managed objects that streams.yaml no longer declares
  --file <path>         the spec (default: streams.yaml at the repository root)
  --server <url>        NATS URL, may hold user:pass@ or token@ (default: $NATS_URL, else the local stack)
  --monitor <url>       nats-server monitoring URL, to check its fsync policy
                        (default: $NATS_MONITOR_URL, or the local stack's with the local server)
`;

export async function main(argv: string[], env = process.env): Promise<number> {
  let args: ReturnType<typeof parse>;
  try {
    args = parse(argv);
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${usage}`);
    return 1;
  }
  const { values, positionals } = args;
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const command = positionals[0];
  if ((command !== "plan" && command !== "apply") || positionals.length > 1) {
    console.error(`expected plan or apply${command ? `, not ${positionals.join(" ")}` : ""}\n\n${usage}`);
    return 1;
  }
  const json = values.json === true;
  const fail = (err: unknown) => {
    const e = err as Error & { applied?: unknown };
    if (json) {
      const applied = e.applied ? { applied: e.applied } : {};
      console.log(JSON.stringify({ error: { name: e.name, message: e.message }, ...applied }, null, 2));
    }
    console.error(`${color.red("error:")} ${e.message}`);
    return 1;
  };

  const local = localUrls();
  const server = values.server ?? env.NATS_URL ?? local.natsUrl;
  const monitorUrl =
    values.monitor ?? env.NATS_MONITOR_URL ?? (server === local.natsUrl ? local.natsMonitorUrl : undefined);

  let desired: ReturnType<typeof loadSpecFile>;
  try {
    // The local stack's own streams take its cluster's settings (JPW_REPLICAS=3: stack-setup.ts).
    desired = loadSpecFile(values.file ?? defaultSpecFile, {
      env: server === local.natsUrl ? streamsEnv(env) : env,
    });
  } catch (err) {
    return fail(err);
  }

  let nc: Awaited<ReturnType<typeof connectTo>>;
  try {
    nc = await connectTo(server, adminNatsAuth(env));
  } catch (err) {
    return fail(err);
  }
  try {
    const p = await plan(nc, desired, {
      prune: values.prune === true,
      url: redact(server),
      monitorUrl,
      env,
    });
    if (command === "plan") {
      console.log(json ? JSON.stringify(planJson(p), null, 2) : renderPlan(p));
      return hasChanges(p) ? 2 : 0;
    }
    if (!json) console.log(renderPlan(p));
    if (!hasChanges(p)) {
      if (json) console.log(JSON.stringify({ ...planJson(p), applied: null }, null, 2));
      return 0;
    }
    if (!json) console.log("");
    const result = await apply(nc, p, {
      allowDestructive: values["allow-destructive"] === true,
      log: json ? undefined : (line) => console.log(`${color.dim("[apply]")} ${line}`),
    });
    if (json) console.log(JSON.stringify({ ...planJson(p), applied: result }, null, 2));
    else {
      console.log(
        color.green(
          `Apply complete: ${result.created} created, ${result.updated} updated, ${result.replaced} replaced, ${result.deleted} deleted.`,
        ),
      );
    }
    return 0;
  } catch (err) {
    return fail(err);
  } finally {
    await nc.close();
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: "boolean" },
      "allow-destructive": { type: "boolean" },
      prune: { type: "boolean" },
      file: { type: "string" },
      server: { type: "string" },
      monitor: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
}

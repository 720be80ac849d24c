// A Postgres pool whose statements always settle. postgres.js 3.4.9 keeps a statement rejected by a
// connection error as that connection's current query (porsager/postgres#1130, #1142 unreleased):
// once the connection reconnects, the next statement it is given waits behind the dead one and
// never settles, nor does any later statement the pool hands that connection. The checker found
// it: after a reset of the consumer's link to Postgres, commands stayed unapplied and unacked
// forever. Here every statement has a deadline; when one passes it, the pool is replaced (the old
// one is destroyed, which rejects whatever it still held) and the statement fails as a lost
// connection (CONNECTION_DESTROYED), which every service already treats as Postgres unreachable.
import postgres, { type Options, type Sql } from "postgres";

export interface SettlingOptions {
  /** Longer than any statement may legitimately take: statement_timeout plus connecting. */
  deadlineMs: number;
  /** Told each time the pool is replaced. */
  onReplace?: (reason: string) => void;
}

export class StatementDeadlineError extends Error {
  override name = "StatementDeadlineError";
  /** What postgres.js calls a connection the client gave up: callers classify it as unreachable. */
  readonly code = "CONNECTION_DESTROYED";
}

const isTemplate = (x: unknown): x is TemplateStringsArray => Array.isArray(x) && "raw" in x;

// biome-ignore lint/complexity/noBannedTypes: postgres.js's default: no custom types.
type Plain = {};

export function settlingPool(url: string, options: Options<Plain>, o: SettlingOptions): Sql {
  let pool = postgres(url, options);
  const guard = <R>(run: (p: Sql) => PromiseLike<R>): Promise<R> => {
    const p = pool;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const reason = `a statement did not settle within ${o.deadlineMs} ms`;
        if (pool === p) {
          pool = postgres(url, options);
          void p.end({ timeout: 0 }).catch(() => {});
          o.onReplace?.(reason);
        }
        reject(new StatementDeadlineError(`${reason}; the connection pool was replaced`));
      }, o.deadlineMs);
    });
    return Promise.race([run(p), late]).finally(() => clearTimeout(timer));
  };
  return new Proxy((() => {}) as unknown as Sql, {
    apply(_target, _this, args: unknown[]) {
      // sql`...` is a statement; sql(value) builds a helper for one (passed through as it is).
      if (!isTemplate(args[0])) return (pool as unknown as (...a: unknown[]) => unknown)(...args);
      return guard((p) => (p as unknown as (...a: unknown[]) => PromiseLike<unknown>)(...args));
    },
    get(_target, prop) {
      if (prop === "unsafe") {
        return (...args: Parameters<Sql["unsafe"]>) => guard((p) => p.unsafe(...args));
      }
      if (prop === "end") return (opts?: { timeout?: number }) => pool.end(opts);
      return Reflect.get(pool, prop);
    },
  });
}

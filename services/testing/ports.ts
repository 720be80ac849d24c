import { createServer } from "node:net";

/**
 * A TCP port that was free a moment ago. Servers that cannot pick their own (Postgres, Redis) retry
 * with another one when they lose the race for it.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export const addressInUse = (log: string) =>
  /address already in use|could not bind|Address in use/i.test(log);

// Every Redis key the reader uses, and which ones a row change invalidates. Nothing else in the
// reader builds a key.
//
// A cached response belongs to one scope (a user, the users list, a user's orders, ...). Each scope
// has generation keys: one per table it reads, and its own. A generation is a random token; the
// data key embeds the tokens it was filled under:
//
//   jpw:gen:table:users       table epoch, replaced on TRUNCATE
//   jpw:gen:user:<id>         scope generation, replaced when that user changes
//   jpw:data:user:<id>:<epoch>.<gen>:-            the cached body of GET /api/users/<id>
//   jpw:data:users:<epoch>.<gen>:l=20&c=<cursor>  one page of GET /api/users
//
// Invalidating = giving the generation keys new tokens, so every data key filled before becomes
// unreachable at once (whole list scopes, all pages, a whole table), and a fill that raced with the
// invalidation writes a key nobody reads (the fill script also refuses it). Old data keys expire by TTL.
import type { Table } from "../shared/writes.ts";

export type Scope =
  | { kind: "user"; id: string }
  | { kind: "users" }
  | { kind: "user-orders"; userId: string }
  | { kind: "orders" }
  | { kind: "order"; id: string };

export class KeySpace {
  constructor(readonly prefix = "jpw") {}

  /** The scope's name inside keys, also shown in invalidation events. */
  scopeName(scope: Scope): string {
    switch (scope.kind) {
      case "user":
        return `user:${scope.id}`;
      case "users":
        return "users";
      case "user-orders":
        return `user-orders:${scope.userId}`;
      case "orders":
        return "orders";
      case "order":
        return `order:${scope.id}`;
    }
  }

  /** Tables whose TRUNCATE must drop this scope (a user's orders answer 404 once the user is gone). */
  tablesOf(scope: Scope): Table[] {
    switch (scope.kind) {
      case "user":
      case "users":
        return ["users"];
      case "user-orders":
        return ["users", "orders"];
      case "orders":
      case "order":
        return ["orders"];
    }
  }

  tableGenKey(table: Table): string {
    return `${this.prefix}:gen:table:${table}`;
  }

  scopeGenKey(scope: Scope): string {
    return `${this.prefix}:gen:${this.scopeName(scope)}`;
  }

  /** Generation keys of a scope, in the order their tokens appear in its data keys. */
  genKeys(scope: Scope): string[] {
    return [...this.tablesOf(scope).map((t) => this.tableGenKey(t)), this.scopeGenKey(scope)];
  }

  /**
   * The data key is `head + tokens.join(".") + tail`. The Lua scripts get head and tail and join
   * the tokens they read themselves, so reading the generations and the data is one round trip.
   */
  dataKeyParts(scope: Scope, variant: string): { head: string; tail: string } {
    return { head: `${this.prefix}:data:${this.scopeName(scope)}:`, tail: `:${variant || "-"}` };
  }

  dataKey(scope: Scope, tokens: string[], variant: string): string {
    const { head, tail } = this.dataKeyParts(scope, variant);
    return `${head}${tokens.join(".")}${tail}`;
  }

  /** Where the CDC invalidator remembers how far Redis holds the stream's changes (cache.ts). */
  cdcPositionKey(): string {
    return `${this.prefix}:cdc:position`;
  }

  /** Pattern matching every data key of a scope, whatever its generation (tests, diagnostics). */
  dataKeyPattern(scope: Scope): string {
    return `${this.prefix}:data:${this.scopeName(scope)}:*`;
  }
}

/** The variant of a list page: its limit and cursor. Entity scopes have none. */
export const pageVariant = (limit: number, cursor: string | undefined) => `l=${limit}&c=${cursor ?? ""}`;

/** What a change does to the cache: which scopes (and table epochs) get new generations. */
export type Invalidation =
  | { kind: "rows"; table: Table; ids: string[]; userIds: string[] }
  | { kind: "table"; table: Table };

export interface InvalidationPlan {
  /** Generation keys to replace. */
  genKeys: string[];
  /** Human-readable scopes, for the event feed and logs. */
  scopes: string[];
}

export function planInvalidation(keys: KeySpace, inv: Invalidation): InvalidationPlan {
  if (inv.kind === "table") {
    return { genKeys: [keys.tableGenKey(inv.table)], scopes: [`table:${inv.table}`] };
  }
  const scopes: Scope[] = [];
  if (inv.table === "users") {
    scopes.push({ kind: "users" });
    for (const id of inv.ids) {
      scopes.push({ kind: "user", id });
      // A user that appears or disappears turns its orders list from 404 into a list or back.
      scopes.push({ kind: "user-orders", userId: id });
    }
  } else {
    scopes.push({ kind: "orders" });
    for (const id of inv.ids) scopes.push({ kind: "order", id });
    for (const userId of inv.userIds) scopes.push({ kind: "user-orders", userId });
  }
  const byName = new Map(scopes.map((s) => [keys.scopeName(s), keys.scopeGenKey(s)]));
  return { genKeys: [...byName.values()], scopes: [...byName.keys()] };
}

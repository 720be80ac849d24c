// Paginated lists (users, orders, one user's orders) as small signal models: the current page,
// the cursors to go forward and back, and the cache verdict of the last read (X-Cache).
import { type Signal, signal } from "@preact/signals";
import { getJson, type Order, type Page, pageQuery, type User } from "../api.ts";

export interface ListModel<T> {
  items: Signal<T[]>;
  next: Signal<string | null>;
  cache: Signal<string | null>;
  error: Signal<string | null>;
  loading: Signal<boolean>;
  /** Cursors of the pages before the current one; the last is the current page's. */
  history: Signal<(string | null)[]>;
  load(cursor?: string | null): Promise<void>;
  reload(): Promise<void>;
  older(): Promise<void>;
  newer(): Promise<void>;
}

export const pageSize = 10;

export function listModel<T>(path: () => string | null): ListModel<T> {
  const m: ListModel<T> = {
    items: signal<T[]>([]),
    next: signal<string | null>(null),
    cache: signal<string | null>(null),
    error: signal<string | null>(null),
    loading: signal(false),
    history: signal<(string | null)[]>([null]),
    async load(cursor = null) {
      const base = path();
      if (!base) {
        m.items.value = [];
        m.next.value = null;
        return;
      }
      m.loading.value = true;
      try {
        const { data, cache } = await getJson<Page<T>>(`${base}${pageQuery(pageSize, cursor)}`);
        m.items.value = data.items;
        m.next.value = data.nextCursor;
        m.cache.value = cache;
        m.error.value = null;
      } catch (err) {
        m.error.value = (err as Error).message;
      } finally {
        m.loading.value = false;
      }
    },
    reload: () => m.load(m.history.value.at(-1) ?? null),
    async older() {
      if (!m.next.value) return;
      m.history.value = [...m.history.value, m.next.value];
      await m.load(m.next.value);
    },
    async newer() {
      if (m.history.value.length < 2) return;
      m.history.value = m.history.value.slice(0, -1);
      await m.load(m.history.value.at(-1) ?? null);
    },
  };
  return m;
}

export const users = listModel<User>(() => "/api/users");
export const orders = listModel<Order>(() => "/api/orders");
export const selectedUser = signal<User | null>(null);
export const userOrders = listModel<Order>(() =>
  selectedUser.value ? `/api/users/${selectedUser.value.id}/orders` : null,
);

/** Users the order form offers: the current page plus every user created from this page. */
export const knownUsers = signal<User[]>([]);

export function rememberUsers(list: User[]): void {
  // peek: called from an effect that must not depend on (and loop over) knownUsers itself.
  const byId = new Map(knownUsers.peek().map((u) => [u.id, u]));
  for (const u of list) byId.set(u.id, u);
  knownUsers.value = [...byId.values()];
}

import type { Order, User } from "../api.ts";
import { type ListModel, orders, selectedUser, userOrders, users } from "../models/lists.ts";

function Pager<T>({ model, label }: { model: ListModel<T>; label: string }) {
  return (
    <nav class="pager" aria-label={`${label} pages`}>
      <button
        type="button"
        class="secondary"
        disabled={model.history.value.length < 2}
        onClick={() => void model.newer()}
      >
        Newer
      </button>
      <span class="muted">page {model.history.value.length}</span>
      <button type="button" class="secondary" disabled={!model.next.value} onClick={() => void model.older()}>
        Older
      </button>
      {model.cache.value && (
        <span class={`badge cache-${model.cache.value}`} title="X-Cache of the last read">
          cache {model.cache.value}
        </span>
      )}
    </nav>
  );
}

const when = (iso: string) => new Date(iso).toLocaleString();

export function UsersList() {
  return (
    <section aria-labelledby="users-title">
      <h2 id="users-title">Users</h2>
      {users.error.value && <p class="form-error">{users.error.value}</p>}
      <div class="table-wrap">
        <table>
          <caption class="visually-hidden">Users, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Email</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {users.items.value.map((u: User) => (
              <tr key={u.id} class={selectedUser.value?.id === u.id ? "selected" : ""}>
                <td>
                  <button
                    type="button"
                    class="link"
                    aria-pressed={selectedUser.value?.id === u.id}
                    onClick={() => {
                      selectedUser.value = u;
                      userOrders.history.value = [null];
                      void userOrders.load();
                    }}
                  >
                    {u.name}
                  </button>
                </td>
                <td>{u.email}</td>
                <td>{when(u.createdAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <Pager model={users} label="Users" />
      {selectedUser.value && (
        <div class="user-orders">
          <h3>Orders of {selectedUser.value.name}</h3>
          <OrdersTable items={userOrders.items.value} />
          <Pager model={userOrders} label={`Orders of ${selectedUser.value.name}`} />
        </div>
      )}
    </section>
  );
}

function OrdersTable({ items }: { items: Order[] }) {
  if (!items.length) return <p class="muted">No orders.</p>;
  return (
    <div class="table-wrap">
      <table>
        <thead>
          <tr>
            <th scope="col">Order</th>
            <th scope="col">Items</th>
            <th scope="col" class="num">
              Total
            </th>
            <th scope="col">Created</th>
          </tr>
        </thead>
        <tbody>
          {items.map((o) => (
            <tr key={o.id}>
              <td>
                <code>{o.id.slice(0, 8)}</code>
              </td>
              <td>{o.items.map((i) => `${i.quantity} × ${i.productId}`).join(", ")}</td>
              <td class="num">{o.total}</td>
              <td>{when(o.createdAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function OrdersList() {
  return (
    <section aria-labelledby="orders-title">
      <h2 id="orders-title">Orders</h2>
      {orders.error.value && <p class="form-error">{orders.error.value}</p>}
      <OrdersTable items={orders.items.value} />
      <Pager model={orders} label="Orders" />
    </section>
  );
}

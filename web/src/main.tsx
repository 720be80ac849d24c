import { effect } from "@preact/signals";
import { render } from "preact";
import { CdcFeed } from "./components/cdc-feed.tsx";
import { OrdersList, UsersList } from "./components/lists.tsx";
import { OrderForm } from "./components/order-form.tsx";
import { SystemPanel } from "./components/system-panel.tsx";
import { UserForm } from "./components/user-form.tsx";
import { WriteLog } from "./components/write-log.tsx";
import { connectFeed } from "./models/feed.ts";
import { orders, rememberUsers, selectedUser, userOrders, users } from "./models/lists.ts";
import { pollSystem } from "./models/system.ts";
import "./styles.css";

function App() {
  return (
    <>
      <header>
        <h1>jetstream-pg-writer</h1>
        <p class="muted">
          Writes go through NATS JetStream to Postgres and answer when committed; reads come from Redis,
          invalidated by CDC.
        </p>
      </header>
      <main>
        <div class="column">
          <UserForm />
          <OrderForm />
          <WriteLog />
        </div>
        <div class="column">
          <UsersList />
          <OrdersList />
        </div>
        <div class="column">
          <CdcFeed />
          <SystemPanel />
        </div>
      </main>
    </>
  );
}

effect(() => rememberUsers(users.items.value));
void users.load();
void orders.load();
connectFeed((e) => {
  // The cache for what changed was just invalidated: reading again shows the new data (a miss).
  if (e.table === "users") {
    void users.reload();
    if (selectedUser.value && (!e.ids || e.ids.includes(selectedUser.value.id))) void userOrders.reload();
  }
  if (e.table === "orders") {
    void orders.reload();
    void userOrders.reload();
  }
});
pollSystem();
render(<App />, document.getElementById("app")!);

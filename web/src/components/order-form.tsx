import { useSignal } from "@preact/signals";
import { formatCents, parseCents } from "../../../services/shared/money.ts";
import { knownUsers, orders, userOrders } from "../models/lists.ts";
import { describedBy, Field } from "./field.tsx";
import { FormFooter, useWriteForm } from "./write-form.tsx";

interface Line {
  productId: string;
  quantity: string;
  price: string;
}

const emptyLine = (): Line => ({ productId: "", quantity: "1", price: "" });

/** The order's total in exact cents, or undefined while a line is incomplete. */
function totalOf(lines: Line[]): string | undefined {
  let sum = 0n;
  for (const l of lines) {
    const cents = parseCents(l.price);
    const qty = Number(l.quantity);
    if (typeof cents === "string" || !Number.isInteger(qty) || qty < 1) return undefined;
    sum += BigInt(qty) * cents;
  }
  return formatCents(sum);
}

export function OrderForm() {
  const userId = useSignal("");
  const lines = useSignal<Line[]>([emptyLine()]);
  const { errors, busy, submit: send } = useWriteForm("order", "order");
  const total = totalOf(lines.value);

  const setLine = (i: number, patch: Partial<Line>) => {
    lines.value = lines.value.map((l, j) => (j === i ? { ...l, ...patch } : l));
  };

  const submit = (e: Event) => {
    e.preventDefault();
    const body = {
      userId: userId.value,
      items: lines.value.map((l) => ({
        productId: l.productId,
        quantity: Number(l.quantity),
        price: l.price,
      })),
      total: total ?? "",
    };
    void send(body, () => {
      lines.value = [emptyLine()];
      void orders.reload();
      void userOrders.reload();
    });
  };

  const f = errors.value.fields;
  return (
    <form onSubmit={submit} aria-labelledby="order-form-title" noValidate>
      <h2 id="order-form-title">New order</h2>
      <Field id="order-userId" label="User" error={f.userId}>
        <select
          id="order-userId"
          value={userId.value}
          onChange={(e) => {
            userId.value = e.currentTarget.value;
          }}
          {...describedBy("order-userId", f.userId)}
        >
          <option value="">Choose a user…</option>
          {knownUsers.value.map((u) => (
            <option key={u.id} value={u.id}>
              {u.name} ({u.email})
            </option>
          ))}
        </select>
      </Field>
      <fieldset>
        <legend>Items</legend>
        {lines.value.map((l, i) => {
          const id = (field: string) => `order-items-${i}-${field}`;
          const err = (field: string) => f[`items.${i}.${field}`];
          return (
            <div class="line" key={i}>
              <Field id={id("productId")} label={`Product ${i + 1}`} error={err("productId")}>
                <input
                  id={id("productId")}
                  value={l.productId}
                  onInput={(e) => setLine(i, { productId: e.currentTarget.value })}
                  {...describedBy(id("productId"), err("productId"))}
                />
              </Field>
              <Field id={id("quantity")} label="Quantity" error={err("quantity")}>
                <input
                  id={id("quantity")}
                  type="number"
                  min="1"
                  step="1"
                  inputMode="numeric"
                  value={l.quantity}
                  onInput={(e) => setLine(i, { quantity: e.currentTarget.value })}
                  {...describedBy(id("quantity"), err("quantity"))}
                />
              </Field>
              <Field id={id("price")} label="Price" error={err("price")}>
                <input
                  id={id("price")}
                  inputMode="decimal"
                  placeholder="19.99"
                  value={l.price}
                  onInput={(e) => setLine(i, { price: e.currentTarget.value })}
                  {...describedBy(id("price"), err("price"))}
                />
              </Field>
              {lines.value.length > 1 && (
                <button
                  type="button"
                  class="secondary"
                  aria-label={`Remove item ${i + 1}`}
                  onClick={() => {
                    lines.value = lines.value.filter((_, j) => j !== i);
                  }}
                >
                  Remove
                </button>
              )}
            </div>
          );
        })}
        <button
          type="button"
          class="secondary"
          onClick={() => {
            lines.value = [...lines.value, emptyLine()];
          }}
        >
          Add item
        </button>
      </fieldset>
      <p class="total" aria-live="polite">
        Total: <output id="order-total">{total ?? "—"}</output>
      </p>
      {f.total && (
        <p class="field-error" role="alert">
          {f.total}
        </p>
      )}
      <FormFooter errors={errors} busy={busy} label="Place order" busyLabel="Placing…" />
    </form>
  );
}

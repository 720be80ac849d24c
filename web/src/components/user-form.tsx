import { useSignal } from "@preact/signals";
import type { User } from "../api.ts";
import { rememberUsers, users } from "../models/lists.ts";
import { send } from "../models/writes.ts";
import { fieldErrorsOf } from "./errors.ts";
import { describedBy, Field } from "./field.tsx";

export function UserForm() {
  const name = useSignal("");
  const email = useSignal("");
  const errors = useSignal<{ fields: Record<string, string>; form?: string }>({ fields: {} });
  const busy = useSignal(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    busy.value = true;
    const result = await send("user", { name: name.value, email: email.value });
    busy.value = false;
    errors.value = fieldErrorsOf(result);
    if (result && (result.status === 201 || result.status === 200)) {
      const created = (result.body as { user?: User }).user;
      if (created) rememberUsers([created]);
      name.value = "";
      email.value = "";
      void users.reload();
    }
    const firstInvalid = Object.keys(errors.value.fields)[0];
    if (firstInvalid) document.getElementById(`user-${firstInvalid}`)?.focus();
  };

  const f = errors.value.fields;
  return (
    <form onSubmit={submit} aria-labelledby="user-form-title" noValidate>
      <h2 id="user-form-title">New user</h2>
      <Field id="user-name" label="Name" error={f.name}>
        <input
          id="user-name"
          name="name"
          autoComplete="name"
          value={name.value}
          onInput={(e) => {
            name.value = e.currentTarget.value;
          }}
          {...describedBy("user-name", f.name)}
        />
      </Field>
      <Field id="user-email" label="Email" error={f.email}>
        <input
          id="user-email"
          name="email"
          type="email"
          autoComplete="email"
          value={email.value}
          onInput={(e) => {
            email.value = e.currentTarget.value;
          }}
          {...describedBy("user-email", f.email)}
        />
      </Field>
      {errors.value.form && (
        <p class="form-error" role="alert">
          {errors.value.form}
        </p>
      )}
      <button type="submit" disabled={busy.value}>
        {busy.value ? "Creating…" : "Create user"}
      </button>
    </form>
  );
}

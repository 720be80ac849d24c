import { useSignal } from "@preact/signals";
import type { User } from "../api.ts";
import { rememberUsers, users } from "../models/lists.ts";
import { describedBy, Field } from "./field.tsx";
import { FormFooter, useWriteForm } from "./write-form.tsx";

export function UserForm() {
  const name = useSignal("");
  const email = useSignal("");
  const { errors, busy, submit: send } = useWriteForm("user", "user");

  const submit = (e: Event) => {
    e.preventDefault();
    void send({ name: name.value, email: email.value }, (result) => {
      const created = (result.body as { user?: User }).user;
      if (created) rememberUsers([created]);
      name.value = "";
      email.value = "";
      void users.reload();
    });
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
      <FormFooter errors={errors} busy={busy} label="Create user" busyLabel="Creating…" />
    </form>
  );
}

import { type Signal, useSignal } from "@preact/signals";
import type { WriteResult } from "../api.ts";
import { send, type WriteKind } from "../models/writes.ts";
import { type FormErrors, fieldErrorsOf } from "./errors.ts";

/**
 * What both write forms share: busy state, the API's problems mapped to fields, and focus moved
 * to the first field in error (ids are `<prefix>-<path with dots as dashes>`).
 */
export function useWriteForm(kind: WriteKind, idPrefix: string) {
  const errors = useSignal<FormErrors>({ fields: {} });
  const busy = useSignal(false);
  const submit = async (body: unknown, onSuccess: (r: WriteResult) => void) => {
    busy.value = true;
    const result = await send(kind, body);
    busy.value = false;
    errors.value = fieldErrorsOf(result);
    if (result && (result.status === 201 || result.status === 200)) onSuccess(result);
    const first = Object.keys(errors.value.fields)[0];
    if (first) document.getElementById(`${idPrefix}-${first.replaceAll(".", "-")}`)?.focus();
  };
  return { errors, busy, submit };
}

/** The form-level problem (one that concerns no single field) and the submit button. */
export function FormFooter(props: {
  errors: Signal<FormErrors>;
  busy: Signal<boolean>;
  label: string;
  busyLabel: string;
}) {
  return (
    <>
      {props.errors.value.form && (
        <p class="form-error" role="alert">
          {props.errors.value.form}
        </p>
      )}
      <button type="submit" disabled={props.busy.value}>
        {props.busy.value ? props.busyLabel : props.label}
      </button>
    </>
  );
}

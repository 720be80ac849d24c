// Exact money. Amounts travel as decimal strings ("19.99") and are computed as integer cents in a
// bigint, so no value ever passes through floating-point arithmetic. JSON numbers are accepted too,
// read from their shortest round-trip decimal text (19.99 → "19.99"), which is the text a client
// most likely wrote; a number with more significant digits than a double holds is already rounded
// by JSON.parse before we see it, so clients that care send strings.

/** The largest amount a numeric(12,2) column holds, in cents. */
export const maxCents = 999_999_999_999n;

const decimal = /^(\d{1,10})(?:\.(\d{1,2}))?$/;

/**
 * Cents of a non-negative amount with at most two decimals, or a reason it is not one.
 * Strings must be plain decimals (no sign, exponent, spaces or thousands separators).
 */
export function parseCents(value: string | number): bigint | string {
  let text: string;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return "a finite amount";
    // String(n) is the shortest text that reads back as the same double: no arithmetic involved.
    text = String(value);
    if (/e/i.test(text)) return "an amount of at most 9999999999.99 with at most 2 decimal places";
    if (text === "-0") text = "0";
  } else {
    text = value;
  }
  if (text.startsWith("-")) return "a non-negative amount";
  const m = decimal.exec(text);
  if (!m) {
    return /^\d+\.\d{3,}$/.test(text)
      ? "an amount with at most 2 decimal places"
      : /^\d{11,}(\.\d*)?$/.test(text)
        ? "an amount of at most 9999999999.99"
        : 'a decimal amount like "19.99"';
  }
  const cents = BigInt(m[1]!) * 100n + BigInt((m[2] ?? "").padEnd(2, "0"));
  return cents;
}

/** "1999" cents → "19.99"; always two decimals, so equal amounts have equal text. */
export function formatCents(cents: bigint): string {
  const negative = cents < 0n;
  const abs = negative ? -cents : cents;
  const whole = abs / 100n;
  const frac = (abs % 100n).toString().padStart(2, "0");
  return `${negative ? "-" : ""}${whole}.${frac}`;
}

/** Σ quantity × price, exactly. */
export function lineTotal(lines: { quantity: number; priceCents: bigint }[]): bigint {
  let sum = 0n;
  for (const l of lines) sum += BigInt(l.quantity) * l.priceCents;
  return sum;
}

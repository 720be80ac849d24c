// The consumer's metrics (jpw_consumer_*), one registry for the writers and the history keeper.
import type { Registry } from "../shared/metrics.ts";

export function consumerMetrics(registry: Registry) {
  return {
    outcomes: registry.counter("jpw_consumer_messages_total", "Messages settled, by table and outcome"),
    retries: registry.counter("jpw_consumer_retries_total", "Messages naked for a later delivery, by reason"),
    deadLetters: registry.counter("jpw_consumer_dead_letters_total", "Messages moved to WRITES_DLQ"),
    batchRows: registry.histogram(
      "jpw_consumer_batch_rows",
      "Commands per INSERT statement",
      [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
    ),
    batchSeconds: registry.histogram("jpw_consumer_batch_seconds", "Time of one batch's statements"),
    inFlight: registry.gauge("jpw_consumer_in_flight", "Messages taken and not yet settled, by table"),
    held: registry.gauge(
      "jpw_consumer_held",
      "Messages held (neither acked nor naked) because a step of their outcome fails, by table and cause",
    ),
    history: {
      messages: registry.gauge("jpw_consumer_history_messages", "Messages in WRITES (history and backlog)"),
      bytes: registry.gauge("jpw_consumer_history_bytes", "Bytes in WRITES"),
      oldestAge: registry.gauge(
        "jpw_consumer_history_oldest_age_seconds",
        "Age of the oldest message in WRITES: how far back history reaches",
      ),
      trimmed: registry.counter(
        "jpw_consumer_history_trimmed_total",
        "Applied commands (and decisions) trimmed from WRITES, by the limit that trimmed them",
      ),
      lastTrim: registry.gauge(
        "jpw_consumer_history_last_trim_timestamp_seconds",
        "When the history keeper last trimmed WRITES",
      ),
    },
  };
}

export type ConsumerMetrics = ReturnType<typeof consumerMetrics>;

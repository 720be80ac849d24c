// Resident memory of every process, sampled through the run. A process's growth is read on its
// longest-lived instance (a restart starts a new one): the median of the samples just after warm-up
// against the median of its last samples, as % per hour. The services are held to < 10 %/h when
// that instance lived an hour past warm-up; shorter runs only report it.

export interface Sample {
  at: number;
  pid: number;
  rss: number;
}

export interface Growth {
  name: string;
  /** MiB at the end of warm-up and at the end of the instance. */
  fromMiB: number;
  toMiB: number;
  /** Minutes the instance was observed after warm-up. */
  minutes: number;
  perHour: number;
  enforced: boolean;
}

export const warmUpMs = 5 * 60_000;
export const boundPerHour = 10;
const window = 60_000;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
};

export class MemoryLog {
  readonly samples = new Map<string, Sample[]>();

  add(name: string, s: Sample): void {
    const list = this.samples.get(name) ?? [];
    list.push(s);
    this.samples.set(name, list);
  }

  growth(name: string, enforce: (name: string) => boolean): Growth | undefined {
    const all = this.samples.get(name) ?? [];
    const byPid = new Map<number, Sample[]>();
    for (const s of all) byPid.set(s.pid, [...(byPid.get(s.pid) ?? []), s]);
    let best: Sample[] = [];
    for (const list of byPid.values()) {
      if (span(list) > span(best)) best = list;
    }
    if (best.length < 3) return undefined;
    const start = best[0]!.at;
    // Short runs: the first quarter of the instance's life stands in for warm-up.
    const warm = Math.min(warmUpMs, span(best) / 4);
    const after = best.filter((s) => s.at >= start + warm);
    if (after.length < 2) return undefined;
    const from = median(after.filter((s) => s.at <= after[0]!.at + window).map((s) => s.rss));
    const last = after[after.length - 1]!.at;
    const to = median(after.filter((s) => s.at >= last - window).map((s) => s.rss));
    const minutes = (last - after[0]!.at) / 60_000;
    const perHour = minutes > 0 && from > 0 ? ((to - from) / from) * (60 / minutes) * 100 : 0;
    return {
      name,
      fromMiB: from / 2 ** 20,
      toMiB: to / 2 ** 20,
      minutes,
      perHour,
      enforced: enforce(name) && minutes >= 60,
    };
  }
}

const span = (list: Sample[]) => (list.length ? list[list.length - 1]!.at - list[0]!.at : -1);

// Headless Chromium from Debian, driven by playwright-core: never a browser downloaded by a test
// tool. Every page's console errors and warnings are collected, so a test can insist on none.
import { type Browser, chromium, type Page } from "playwright-core";
import { tools } from "../infra/tools.ts";

export interface TestBrowser extends AsyncDisposable {
  browser: Browser;
  /** A new page whose console errors/warnings and page errors land in `problems`. */
  page(opts?: PageOptions): Promise<Page>;
  problems: string[];
}

export interface PageOptions {
  width?: number;
  height?: number;
  /** HTTP statuses the test provokes on purpose; Chromium's console line for them is not a problem. */
  expectedStatuses?: number[];
}

const expectedFailure = (text: string, statuses: number[]) => {
  const m = /^Failed to load resource: the server responded with a status of (\d{3})/.exec(text);
  return m !== null && statuses.includes(Number(m[1]));
};

export async function launchBrowser(): Promise<TestBrowser> {
  const browser = await chromium.launch({
    executablePath: tools.chromium(),
    // As root in a sandbox without a network: no setuid sandbox, and nothing that phones home.
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const problems: string[] = [];
  return {
    browser,
    problems,
    async page(opts: PageOptions = {}) {
      const context = await browser.newContext({
        viewport: { width: opts.width ?? 1400, height: opts.height ?? 1000 },
      });
      const page = await context.newPage();
      page.on("console", (m) => {
        if (m.type() !== "error" && m.type() !== "warning") return;
        // Chromium reports every non-2xx fetch on the console; a 4xx the test provoked on purpose
        // (a taken email, an invalid body) is an answer the page handles, not a page error.
        if (opts.expectedStatuses && expectedFailure(m.text(), opts.expectedStatuses)) return;
        problems.push(`console ${m.type()}: ${m.text()}`);
      });
      page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
      return page;
    },
    async [Symbol.asyncDispose]() {
      await browser.close();
    },
  };
}

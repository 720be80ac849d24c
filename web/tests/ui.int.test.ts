// The UI in real headless Chromium against the whole system: edge, producer, consumer, reader,
// NATS, Postgres, Redis and a real Debezium Server. A screenshot of the main page is kept in
// artifacts/ui/.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { artifactsDir, root } from "../../services/infra/paths.ts";
import { run } from "../../services/infra/proc.ts";
import { launchBrowser, type TestBrowser } from "../../services/testing/browser.ts";
import { makeTempDir } from "../../services/testing/process.ts";
import { type System, startSystem } from "../../services/testing/system.ts";

const test = suite("the UI");
let system: System;
let browser: TestBrowser;
let page: Page;

test.before(async () => {
  // uvu reports a failing hook as silently failed tests: say why.
  try {
    await setUp();
  } catch (err) {
    console.error(`setting up the system failed: ${(err as Error).stack ?? err}`);
    throw err;
  }
});

async function setUp(): Promise<void> {
  const webRoot = makeTempDir("web-dist");
  await run(
    join(root, "node_modules", ".bin", "vite"),
    ["build", "--outDir", webRoot, "--emptyOutDir", "--logLevel", "warn"],
    {
      cwd: join(root, "web"),
      prefix: false,
    },
  );
  system = await startSystem({ webRoot });
  browser = await launchBrowser();
  // The taken-email test provokes a 409 on purpose.
  page = await browser.page({ expectedStatuses: [409] });
  await page.goto(system.edge!.url);
  await page.getByRole("heading", { name: "jetstream-pg-writer" }).waitFor();
}

test.after(async () => {
  await browser?.[Symbol.asyncDispose]();
  await system?.[Symbol.asyncDispose]();
});

const section = (title: string) =>
  page.locator("section, form").filter({ has: page.getByRole("heading", { name: title, exact: true }) });

async function createUser(name: string, email: string): Promise<void> {
  await page.getByLabel("Name").fill(name);
  await page.getByLabel("Email").fill(email);
  await page.getByRole("button", { name: "Create user" }).click();
}

test("a user and an order created in the UI are both listed", async () => {
  await createUser("Ada Lovelace", "ada@example.com");
  await section("Writes").getByText("201 committed").first().waitFor();
  await section("Users").getByRole("button", { name: "Ada Lovelace" }).waitFor();

  await page.getByLabel("User", { exact: true }).selectOption({ label: "Ada Lovelace (ada@example.com)" });
  await page.getByLabel("Product 1").fill("analytical-engine");
  await page.getByLabel("Quantity").fill("2");
  await page.getByLabel("Price").fill("19.99");
  assert.is(await page.locator("#order-total").textContent(), "39.98", "the total is computed exactly");
  await page.getByRole("button", { name: "Place order" }).click();
  await section("Writes").getByText("order #2").waitFor();
  await section("Orders").getByText("39.98").waitFor();
  await section("Orders").getByText("2 × analytical-engine").waitFor();

  // A user's orders: click the user.
  await section("Users").getByRole("button", { name: "Ada Lovelace" }).click();
  await page.getByRole("heading", { name: "Orders of Ada Lovelace" }).waitFor();
  await section("Users").getByText("39.98").waitFor();

  mkdirSync(join(artifactsDir, "ui"), { recursive: true });
  await page.screenshot({ path: join(artifactsDir, "ui", "main.png"), fullPage: true });
});

test("sending a write again with the same key shows the replay", async () => {
  await section("Writes").getByRole("button", { name: "Send again with the same key" }).last().click();
  await section("Writes").getByText("200 replayed").first().waitFor();
  const [row] = await system.sql`select count(*)::int as n from users where lower(email) = 'ada@example.com'`;
  assert.is(row!.n, 1, "the replay made no second row");
});

test("a taken email shows the 409 message at the email field", async () => {
  await createUser("Another Ada", "ADA@example.com");
  const error = page.locator("#user-email-error");
  await error.waitFor();
  assert.match((await error.textContent()) ?? "", /taken/i);
  assert.is(await page.getByLabel("Email").getAttribute("aria-invalid"), "true");
  await section("Writes").getByText("409").first().waitFor();
});

test("a manual SQL UPDATE of a user appears in the list and in the CDC feed", async () => {
  await system.sql`update users set name = 'Ada, Countess of Lovelace' where lower(email) = 'ada@example.com'`;
  await section("Users")
    .getByRole("button", { name: "Ada, Countess of Lovelace" })
    .waitFor({ timeout: 20_000 });
  const feed = section("Cache invalidations");
  await feed.getByText("update").first().waitFor();
  assert.match((await feed.locator("li").first().textContent()) ?? "", /users\s*update.*\d+ ms/);
});

test("the system panel shows streams, consumers, the DLQ count and every service ready", async () => {
  const panel = section("System");
  await panel.getByText("users-writer").waitFor();
  await panel.getByText("cache-invalidator").waitFor();
  await panel.getByText("Dead letters (WRITES_DLQ)").waitFor();
  for (const svc of ["reader", "producer", "consumer"]) {
    await panel.locator("li", { hasText: svc }).getByText("ready", { exact: true }).waitFor();
  }
});

test("at phone width nothing scrolls sideways and the forms stay usable", async () => {
  const phone = await browser.page({ width: 390, height: 844 });
  await phone.goto(system.edge!.url);
  await phone.getByRole("button", { name: "Create user" }).waitFor();
  // Evaluated in the page (strings: this file is typed for Node, not the DOM).
  const overflow = (await phone.evaluate(
    "document.documentElement.scrollWidth - window.innerWidth",
  )) as number;
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
  await phone.getByLabel("Name").focus();
  await phone.keyboard.press("Tab");
  assert.is(await phone.evaluate("document.activeElement?.id"), "user-email", "Tab moves from name to email");
  await phone.context().close();
});

test("the pages printed no console errors or warnings", async () => {
  assert.equal(browser.problems, []);
});

test.run();

import { startDemoServer, launchBrowser, pageUrl, waitForStatus } from "./fixtures/index.mjs";
const server = await startDemoServer(["--heartbeat-s", "1"]);
const browser = await launchBrowser();
try {
  const page = await browser.newPage();
  page.on("console", (m) => console.log("console:", m.text()));
  page.on("pageerror", (e) => console.log("pageerror:", e.message));
  await page.goto(pageUrl(server.url, { tokens: 120, token_delay_ms: 40, tools: 1, autostart: 1 }));
  await page.waitForFunction(() => (document.querySelector('[data-testid="agent-text"]')?.textContent ?? "").length > 40);
  await page.getByTestId("stop").click();
  for (let i = 0; i < 10; i++) { await page.waitForTimeout(300); console.log(await page.getByTestId("status").textContent(), (await page.getByTestId("agent-text").textContent()).length); }
  await browser.screenshot(page, "dbg");
} finally { await browser.close(); await server.stop(); }

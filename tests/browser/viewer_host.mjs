// A minimal MCP Apps host around the artifact viewer, in Debian's chromium (never a downloaded browser).
//
// argv[2]: the viewer's HTML file (as the server's resources/read returned it). stdin, first line: the tool
// result to show. The host page renders the viewer in a sandboxed iframe and answers its postMessage
// JSON-RPC (ui/initialize with a dark theme; tools/call and resources/read forwarded over stdout to the
// Python test, which runs them against the real server and writes the answer back on stdin). Then it does
// what a person would, and prints one {"report": …} line with what it saw.
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const viewerHtml = readFileSync(process.argv[2], "utf8");
const lines = createInterface({ input: process.stdin });
const waiting = new Map();
let firstLine;
const first = new Promise((resolve) => (firstLine = resolve));
let nextId = 1;
lines.on("line", (line) => {
  if (firstLine) { const f = firstLine; firstLine = null; f(JSON.parse(line)); return; }
  const answer = JSON.parse(line);
  const w = waiting.get(answer.id);
  waiting.delete(answer.id);
  if (w) w(answer);
});
const send = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

const toolResult = await first;
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu"],
});
try {
  const page = await browser.newPage();
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  await page.exposeFunction("forward", (method, params) => new Promise((resolve) => {
    const id = nextId++;
    waiting.set(id, resolve);
    send({ request: { id, method, params } });
  }));
  await page.setContent(`<!doctype html><html><body>
    <iframe id="app" sandbox="allow-scripts" style="width:900px;height:700px"></iframe>
    <script>
      const frame = document.getElementById("app");
      const toolResult = ${JSON.stringify(toolResult)};
      window.hostLog = [];
      window.addEventListener("message", async (event) => {
        if (event.source !== frame.contentWindow) return;
        const msg = event.data;
        window.hostLog.push(msg.method || "response");
        const reply = (body) => frame.contentWindow.postMessage({ jsonrpc: "2.0", id: msg.id, ...body }, "*");
        if (msg.method === "ui/initialize") {
          reply({ result: { protocolVersion: "2025-06-18", hostInfo: { name: "test-host", version: "1" },
            hostCapabilities: { serverTools: {}, serverResources: {} }, hostContext: { theme: "dark" } } });
        } else if (msg.method === "ui/notifications/initialized") {
          frame.contentWindow.postMessage({ jsonrpc: "2.0", method: "ui/notifications/tool-result", params: toolResult }, "*");
        } else if (msg.method === "tools/call" || msg.method === "resources/read") {
          const answer = await window.forward(msg.method, msg.params);
          reply(answer.error ? { error: answer.error } : { result: answer.result });
        } else if (msg.id !== undefined) {
          reply({ error: { code: -32601, message: "Method not found" } });
        }
      });
    </script></body></html>`);
  await page.evaluate((html) => { document.getElementById("app").srcdoc = html; }, viewerHtml);
  const app = page.frameLocator("#app");
  const report = {};
  // a suggest result opens on its suggestions; then the person looks at the artifact itself
  await app.locator(".sugg").first().waitFor();
  report.suggestionsShown = await app.locator(".sugg").count();
  await app.locator('nav button[data-tab="view"]').click();
  await app.locator(".md h1").waitFor();
  const frame = page.frames().find((f) => f !== page.mainFrame());
  report.heading = await app.locator(".md h1").textContent();
  report.strong = await app.locator(".md strong").allTextContents();
  report.listItems = await app.locator(".md li").allTextContents();
  report.links = await app.locator(".md a").evaluateAll((as) => as.map((a) => a.getAttribute("href")));
  report.scriptsInArtifact = await app.locator(".md script, .md img, .md iframe").count();
  report.literalText = await app.locator(".md").textContent();
  report.theme = await frame.evaluate(() => document.documentElement.getAttribute("data-theme"));
  // the diff of the last two versions
  await app.locator('nav button[data-tab="diff"]').click();
  await app.locator("table.diff td.add").first().waitFor();
  report.diffStats = await app.locator("#diff-stats").textContent();
  report.diffAdded = await app.locator("table.diff td.add").allTextContents();
  report.diffRemoved = await app.locator("table.diff td.del").allTextContents();
  report.timeline = await app.locator("#timeline li").count();
  // accept the suggestion
  await app.locator('nav button[data-tab="suggestions"]').click();
  await app.locator("button[data-accept]").first().click();
  await app.locator("#status").filter({ hasText: "Accepted suggestion" }).waitFor();
  report.status = await app.locator("#status").textContent();
  report.afterAccept = await app.locator(".md").textContent();
  report.metaAfterAccept = await app.locator("#meta").textContent();
  report.suggestionsAfterAccept = await app.locator(".sugg").count();
  report.pwned = await frame.evaluate(() => window.__pwned === true);
  report.pwnedHost = await page.evaluate(() => window.__pwned === true);
  report.pageErrors = pageErrors;
  send({ report });
} finally {
  await browser.close();
  lines.close();
}

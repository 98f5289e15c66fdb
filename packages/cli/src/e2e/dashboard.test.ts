/**
 * The dashboard in a real browser (Debian's Chromium, driven by playwright-core), against a real
 * server and a real runc sandbox, as a new user would use it: sign in with a key, create a sandbox,
 * type in its terminal and see the output, burn CPU in it and watch its stats move, upload a file
 * and see it listed, destroy it; and a session whose key is revoked is signed out at once.
 * An admin revokes that key from the admin page (projects, keys, audit).
 * Screenshots of the main pages go to docs/images/dashboard-*.png.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { TEST_KEY, newDataDir, recordSandbox, startTestServer, type TestServer } from '@airlock/testkit';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = fileURLToPath(new URL('../../../../docs/images/', import.meta.url));

describe(
  'the dashboard in Chromium',
  { timeout: 5 * 60_000, skip: existsSync(CHROMIUM) ? false : 'no /usr/bin/chromium (scripts/setup.sh installs it)' },
  () => {
    let t: TestServer;
    let browser: Browser;

    before(async () => {
      t = await startTestServer(newDataDir('dashboard'));
      // Root cannot use Chromium's own sandbox (it needs an unprivileged user); the page is ours.
      browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
      mkdirSync(SHOTS, { recursive: true });
    });
    after(async () => {
      await browser?.close();
      await t?.close();
    });

    async function signIn(page: Page, key: string): Promise<void> {
      await page.goto(`${t.server.url}/ui/`);
      await page.fill('#api-key', key);
      await page.click('#sign-in');
      await page.waitForSelector('nav');
    }

    test('sign in, create, terminal, stats, upload, destroy', { timeout: 4 * 60_000 }, async () => {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const problems: string[] = [];
      page.on('pageerror', (e) => problems.push(e.message));
      page.on('requestfailed', (r) => !r.url().includes('/attach') && problems.push(`${r.url()} ${r.failure()?.errorText}`));
      // No request may leave the server: no CDN, nothing external.
      page.on('request', (r) => {
        if (
          !r.url().startsWith(t.server.url) &&
          !r.url().startsWith(t.server.url.replace('http', 'ws')) &&
          !r.url().startsWith('blob:') &&
          !r.url().startsWith('data:')
        )
          problems.push(`external request ${r.url()}`);
      });
      await signIn(page, TEST_KEY);
      await page.waitForSelector('h1:text("Sandboxes")');

      await page.selectOption('select[aria-label=runtime]', 'runc');
      await page.click('#create');
      const row = page.locator('table.sandboxes tbody tr').first();
      await row.locator('td.state-running').waitFor({ timeout: 60_000 });
      const id = (await row.getAttribute('data-id'))!;
      recordSandbox(id);
      await row.locator('td.cpu').filter({ hasText: '%' }).waitFor();
      await page.screenshot({ path: join(SHOTS, 'dashboard-sandboxes.png') });

      await row.locator('a').click();
      await page.waitForSelector('.term-status:text("connected")', { timeout: 30_000 });
      await page.click('.terminal');
      await page.keyboard.type('echo $((6*7))-from-the-terminal\n');
      await page.locator('.xterm-rows').filter({ hasText: '42-from-the-terminal' }).waitFor({ timeout: 15_000 });

      // top, full screen, then quit it: the terminal is a real one.
      await page.keyboard.type('top\n');
      await page
        .locator('.xterm-rows')
        .filter({ hasText: /Tasks:|Mem/ })
        .waitFor({ timeout: 15_000 });
      await page.keyboard.type('q');
      // The shell has the terminal again once top quit.
      await page.keyboard.type('clear; echo after-$((1+1))-top\n');
      await page.locator('.xterm-rows').filter({ hasText: 'after-2-top' }).waitFor({ timeout: 15_000 });
      // Burn a core from the terminal; the stats panel (polled every second) shows it.
      await page.keyboard.type("timeout 8 sh -c 'while :; do :; done'\n");
      let cpu = '';
      for (const end = Date.now() + 20_000; Date.now() < end && !(Number.parseFloat(cpu) > 50); await new Promise((r) => setTimeout(r, 250)))
        cpu = (await page.textContent('#stat-cpu')) ?? '';
      assert.ok(Number.parseFloat(cpu) > 50, `the stats show the busy loop: ${cpu}`);

      await page.setInputFiles('input[type=file]', { name: 'hello.txt', mimeType: 'text/plain', buffer: Buffer.from('uploaded from Chromium\n') });
      await page.click('#upload');
      await page.locator('.file-list tr[data-name="hello.txt"]').waitFor({ timeout: 15_000 });
      const onDisk = await t.api.call('GET', `/v1/sandboxes/${id}/files?path=/home/user/hello.txt`);
      assert.equal(Buffer.from(onDisk.body).toString(), 'uploaded from Chromium\n');
      const download = page.waitForEvent('download');
      await page.locator('.file-list tr[data-name="hello.txt"] button').click();
      const saved = await download;
      assert.equal(saved.suggestedFilename(), 'hello.txt');
      await page.screenshot({ path: join(SHOTS, 'dashboard-sandbox.png'), fullPage: true });

      await page.click('nav a:text("Images and pools")');
      await page.waitForSelector('h1:text("Images")');
      await page.screenshot({ path: join(SHOTS, 'dashboard-images.png') });

      await page.click('nav a:text("Sandboxes")');
      await page.locator(`tr[data-id="${id}"] button.destroy`).click();
      await page.locator(`tr[data-id="${id}"]`).waitFor({ state: 'detached', timeout: 30_000 });
      assert.equal((await t.api.call('GET', `/v1/sandboxes/${id}`)).body.state, 'destroyed');
      assert.deepEqual(problems, [], `the page had problems; cpu was ${cpu}`);
      await page.close();
    });

    test('a session whose key is revoked is signed out at once', { timeout: 60_000 }, async () => {
      const issued = await t.api.call('POST', '/v1/projects/default/keys', { name: 'to revoke', role: 'project' });
      assert.equal(issued.status, 201, JSON.stringify(issued.body));
      const page = await browser.newPage();
      await signIn(page, issued.body.key);
      await page.waitForSelector('h1:text("Sandboxes")');
      const wrong = await browser.newPage();
      await wrong.goto(`${t.server.url}/ui/`);
      await wrong.fill('#api-key', 'ak_not_a_key');
      await wrong.click('#sign-in');
      await wrong.waitForSelector('.signin .error');
      // An admin revokes it from the admin page, where the audit log is shown too.
      const admin = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      await signIn(admin, TEST_KEY);
      await admin.click('nav a:text("Projects, keys, audit")');
      await admin.locator('table.projects tr[data-project="default"]').waitFor();
      await admin.locator('table.audit tbody tr').first().waitFor();
      const row = admin.locator(`table.keys tr[data-key="${issued.body.info.id}"]`);
      await row.waitFor();
      await admin.screenshot({ path: join(SHOTS, 'dashboard-admin.png') });
      await row.locator('button.revoke').click();
      await row
        .locator('td.revoked')
        .filter({ hasText: /\d{4}-/ })
        .waitFor({ timeout: 10_000 });
      const t0 = performance.now();
      await page.waitForSelector('#api-key', { timeout: 10_000 });
      const ms = performance.now() - t0;
      assert.ok(ms < 5000, `signed out ${Math.round(ms)} ms after the revocation`);
      assert.equal(
        await page.evaluate(() => (globalThis as unknown as { sessionStorage: { getItem(k: string): string | null } }).sessionStorage.getItem('airlock.key')),
        null,
        'the key is forgotten',
      );
      const listed = (await t.api.call('GET', '/v1/projects/default/keys')).body.keys.find((k: { id: string }) => k.id === issued.body.info.id);
      assert.ok(listed.revokedAt !== null, 'the server has it revoked');
      await page.close();
      await wrong.close();
      await admin.close();
    });

    test('the dashboard is served with a strict CSP and nothing from elsewhere', { timeout: 30_000 }, async () => {
      const res = await fetch(`${t.server.url}/ui/`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'self'; script-src 'self'/);
      const html = await res.text();
      assert.ok(!/https?:\/\//.test(html), 'no absolute URL in the page');
      assert.equal((await fetch(`${t.server.url}/ui/../../etc/passwd`)).status, 404);
      assert.equal((await fetch(`${t.server.url}/ui/nope.js`)).status, 404);
    });
  },
);

/**
 * The local console in a real browser (Debian's chromium through playwright-core): what a person
 * sees when they try the product. The product runs in this process as `npm start` runs it
 * (`startConsoleMode`: local mode, the Slack surface on its in-process Web API, the console
 * server), with a policy whose stages bake in a second. The assertions read the page's text.
 *
 * `UPDATE_SCREENSHOT=1` writes docs/console.png (the README's) mid-rollout.
 */
import { mkdirSync } from 'node:fs';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startConsoleMode, type ConsoleMode } from '../../local/console/console-mode.js';
import { parsePolicy } from '../../shared/config/policy-loader.js';
import { createLogger } from '../../shared/log.js';
import { REPO_ROOT } from '../support/entry-process.js';

const CHROMIUM = '/usr/bin/chromium';
const TIMEOUT = 30_000;

/** The example policy's shape (config/policy.yaml) with test-sized durations and traffic. */
const POLICY = `
clusters:
  eu-west: { description: Frankfurt production }
  us-east: { description: Virginia production }
defaults:
  stages: [5, 25, 50, 100]
  bake: 1s
  gate:
    interval: 200ms
    minRequests: 20
    failureLimit: 2
    checks:
      - { metric: error_rate, mode: absolute, max: 0.02 }
      - { metric: latency_p99, mode: relative, max: 1.5 }
services:
  checkout:
    channel: C0CHECKOUT
    oncall: S0CHECKOUTONCALL
    clusters: [eu-west, us-east]
    stableVersion: 2.4.0
    approveAt: [50]
    permissions:
      approve: [U0LEAD1, S0CHECKOUTLEADS]
      fourEyes: true
  search:
    channel: C0SEARCH
    clusters: [eu-west]
    stableVersion: 7.1.0
    strategy: blue-green
    stages: [0, 100]
    blueGreen: { mirrorPercent: 5 }
  # A provider and its consumer, rolled out together as a release from their channel.
  payments:
    channel: C0PAYMENTS
    clusters: [eu-west, us-east]
    stableVersion: 1.0.0
    stages: [50, 100]
  cart:
    channel: C0PAYMENTS
    clusters: [eu-west, us-east]
    stableVersion: 3.0.0
    stages: [50, 100]
    dependsOn: [payments]
simulation:
  seed: 7
  traffic:
    requestsPerSecond: 5000
`;

describe('the local console in a browser', () => {
  let product: ConsoleMode;
  let browser: Browser;
  let page: Page;
  const logs: string[] = [];

  beforeAll(async () => {
    product = await startConsoleMode({
      policy: parsePolicy(POLICY, 'console-policy.yaml'),
      logger: createLogger('console-test', 'info', {
        write: (line: string) => void logs.push(line),
      }),
      port: 0,
      host: '127.0.0.1',
      local: { samplingIntervalMs: 100, heartbeatIntervalMs: 500, sweepTimer: false },
      surface: { processMetrics: false, cardUpdateIntervalMs: 500 },
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await product?.stop();
  });

  const pageErrors: string[] = [];
  beforeEach(async () => {
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.setDefaultTimeout(TIMEOUT);
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.goto(product.url);
    await expect.poll(() => page.locator('#status').textContent()).toBe('live');
  });

  afterEach(async () => {
    await page?.close();
    expect(pageErrors).toEqual([]);
  });

  it('runs rollouts from the message box and the card: advance, approve, roll back on a fault, abort', async () => {
    expect(await page.locator('#channel-title').textContent()).toBe('# checkout');

    // Start from the message box, as in Slack; the answer is for the person who typed it.
    const started = await ask(page, '/rollout start checkout 2.5.0 first try');
    const firstId = startedId(started);
    expect(started).toContain('Only visible to you');

    // The card appears and advances in place: one card, its thread growing.
    const card = cardOf(page, firstId);
    await waitForText(card, /Baking stage 2 of 4 \(25%\)|stage 3 of 4/);
    await waitForText(card, /Waiting for approval after stage 3 of 4 \(50%\)/);
    expect(await card.count()).toBe(1);
    const cardText = await card.innerText();
    expect(cardText).toContain('checkout 2.5.0 (from 2.4.0) · canary · started by @U0LOCAL');
    expect(cardText).toMatch(/eu-west · 50% on 2\.5\.0/);
    expect(cardText).toContain('1 approval(s) needed from @U0LEAD1, @S0CHECKOUTLEADS');
    expect(cardText).toMatch(/eu-west at 25% \(stage 2\)/);
    if (process.env.UPDATE_SCREENSHOT) {
      mkdirSync(`${REPO_ROOT}docs`, { recursive: true });
      await page.screenshot({ path: `${REPO_ROOT}docs/console.png` });
    }

    // Four-eyes: the starter's own approval is refused, to them alone.
    await card.getByRole('button', { name: 'Approve' }).click();
    await waitForText(page.locator('li.ephemeral').last(), /four-eyes|may not approve|started it/i);

    // A lead approves from the card; the rollout runs to the end and the buttons go.
    await page.locator('#who').selectOption('U0LEAD1');
    await card.getByRole('button', { name: 'Approve' }).click();
    await waitForText(card, /@U0LEAD1 approved; going on/);
    await waitForText(card, /Succeeded · 2\.5\.0 is stable in eu-west, us-east/);
    await expect.poll(() => card.getByRole('button').count()).toBe(0);

    // A fault from the panel: errors on us-east's canary. The gate catches it and rolls back.
    await page.locator('#fault-cluster').selectOption('us-east');
    await page.locator('#fault-service').selectOption('checkout');
    await page.locator('#fault-role').selectOption('canary');
    await page.locator('#fault-kind').selectOption('errorRate');
    await page.locator('#fault-value').fill('40');
    await page.getByRole('button', { name: 'Inject fault' }).click();
    await waitForText(page.locator('#fault-list'), /us-east · checkout · canary: \+40% errors/);

    const secondId = startedId(await ask(page, '/rollout start checkout 2.6.0'));
    const notice = page.locator('li.broadcast', { hasText: 'Automatic rollback' });
    await waitForText(
      notice.first(),
      /Automatic rollback: the gate is breached · checkout 2\.6\.0/,
    );
    const noticeText = await notice.first().innerText();
    expect(noticeText).toContain('@S0CHECKOUTONCALL');
    expect(noticeText).toMatch(/error_rate \d+(\.\d+)?% > 2(\.0)?% \(absolute\) in us-east/);
    await waitForText(cardOf(page, secondId), /Rolled back to 2\.5\.0 in eu-west, us-east/);

    await page.getByRole('button', { name: 'Clear all faults' }).click();
    await waitForText(page.locator('#fault-list'), /None: every cluster is healthy/);

    // Abort through the confirm dialog: "Keep going" changes nothing, confirming aborts.
    const thirdId = startedId(await ask(page, '/rollout start checkout 2.7.0 --bake 5m'));
    const thirdCard = cardOf(page, thirdId);
    await waitForText(thirdCard, /Baking stage 1 of 4/);
    const dialog = page.locator('dialog#confirm');
    await thirdCard.getByRole('button', { name: 'Abort' }).click();
    await waitForText(dialog, /Abort this rollout\?/);
    expect(await dialog.innerText()).toContain('Every cluster goes back to 2.5.0 for checkout.');
    // "Keep going" must send nothing. Proof without sleeping: the page's POSTs are recorded in
    // the order it makes them, and a command typed afterwards is answered; a click the dialog
    // let through would have been requested before that command.
    const requests: string[] = [];
    const record = (request: { url(): string; method(): string }) => {
      if (request.method() === 'POST') requests.push(new URL(request.url()).pathname);
    };
    page.on('request', record);
    await dialog.getByRole('button', { name: 'Keep going' }).click();
    await expect.poll(() => dialog.isVisible()).toBe(false);
    expect(await ask(page, `/rollout status ${thirdId}`)).toMatch(/Baking stage 1 of 4/);
    page.off('request', record);
    expect(requests).toEqual(['/console/api/command']);
    expect(await thirdCard.innerText()).toMatch(/Baking stage 1 of 4/);

    await thirdCard.getByRole('button', { name: 'Abort' }).click();
    await dialog.getByRole('button', { name: 'Abort and roll back' }).click();
    await waitForText(thirdCard, /Aborted by @U0LEAD1, back on 2\.5\.0/);
    await waitForText(thirdCard, /@U0LEAD1 aborted the rollout/);
  }, 120_000);

  it('starts a release from the message box and shows its card: provider first, then its consumer', async () => {
    await page.locator('#channels').getByRole('button', { name: '# payments-cart' }).click();
    await expect.poll(() => page.locator('#channel-title').textContent()).toBe('# payments-cart');
    const started = await ask(page, '/rollout start cart@3.1.0 payments@1.1.0 new card api');
    const releaseId = /Release `?(rel-[\w-]+)`? started/.exec(started)?.[1];
    if (!releaseId) throw new Error(`not a release start: ${started}`);
    expect(started).toContain('payments → cart');
    // Member cards name the release too; its own card begins with it.
    const card = page.locator('#stream > li.msg:not(.ephemeral):not(.broadcast)', {
      hasText: new RegExp(`Release ${releaseId} · 2 services`),
    });
    // Its own card, members as rows in plan order, updated in place until it ends.
    const done = await waitForText(card.first(), /succeeded/);
    expect(await card.count()).toBe(1);
    expect(done).toMatch(/1\. payments 1\.1\.0 · promoted/);
    expect(done).toMatch(/2\. cart 3\.1\.0 · promoted · after payments/);
    expect(done).toContain('new card api');
  }, 60_000);

  it('says a message over the console’s limit is too long, and gives it back to fix', async () => {
    const text = `/rollout start checkout 2.5.0 ${'x'.repeat(70 * 1024)}`;
    await page.locator('#message').fill(text);
    await page.locator('#message').press('Enter');
    await waitForText(
      page.locator('#status'),
      /could not send: that is too long for the console \(over 64 KiB\)/,
    );
    expect(await page.locator('#message').inputValue()).toBe(text);
    expect(await product.local.bot.service.list()).toEqual([]);
  }, 60_000);

  it('shows HTML in what people type as text, creating no element and running nothing', async () => {
    expect(await ask(page, '/rollout start <script>window.__pwned=1</script> 1.0.0')).toMatch(
      /unknown service "<script>window.__pwned=1/,
    );
    // The reply points to the service's channel, where the card is.
    await page.getByRole('button', { name: '# search' }).click();
    expect(await page.locator('#channel-title').textContent()).toBe('# search');
    const card = cardOf(
      page,
      startedId(
        await ask(
          page,
          '/rollout start search 7.2.0 <img src=x onerror="window.__pwned=1"> <b>bold?</b>',
        ),
      ),
    );
    // Slack sends `<`, `>` and `&` as entities; the bot reads them back, and they show as typed.
    const text = await waitForText(card, /<img src=x onerror="window.__pwned=1">/);
    expect(text).toContain('<b>bold?</b>');
    expect(await page.locator('#stream img, #stream script, #stream b').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned)).toBe(undefined);
    await card.getByRole('button', { name: 'Abort' }).click();
    await page
      .locator('dialog#confirm')
      .getByRole('button', { name: 'Abort and roll back' })
      .click();
    await waitForText(card, /Aborted/);
  }, 60_000);
});

/** Types `text` into the message box and returns the answer only the sender sees. */
async function ask(page: Page, text: string): Promise<string> {
  await page.locator('#message').fill(text);
  await page.locator('#message').press('Enter');
  const answer = page.locator('#stream > li.ephemeral', {
    has: page.locator('.typed', { hasText: text }),
  });
  // The typed command shows at once; wait for the answer under it.
  return waitForText(answer.last(), new RegExp(`${escapeRegExp(text)}\\s*\\S`));
}

function startedId(reply: string): string {
  const id = /Started ((?:checkout|search)-\w+)/.exec(reply)?.[1];
  if (!id) throw new Error(`not a start confirmation: ${reply}`);
  return id;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The rollout's card in the channel (its last line names the rollout id). */
function cardOf(page: Page, rolloutId: string): Locator {
  return page.locator('#stream > li.msg:not(.ephemeral):not(.broadcast)', {
    has: page.locator('.block-context code', { hasText: rolloutId }),
  });
}

/** Waits until the element's visible text matches, and returns that text. */
async function waitForText(locator: Locator, pattern: RegExp): Promise<string> {
  const deadline = Date.now() + TIMEOUT;
  let last = '';
  while (Date.now() < deadline) {
    last = await locator.innerText({ timeout: 1_000 }).catch(() => '');
    if (pattern.test(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no text matching ${pattern} within ${TIMEOUT} ms; the last seen was:\n${last}`);
}

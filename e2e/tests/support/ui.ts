import { type Browser, expect, type Page } from '@playwright/test';

/** One browser user: its own context (storage), signed in with a display name. */
export async function openChat(browser: Browser, url: string, name: string): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('console', (msg) => {
    if (process.env.DEBUG_UI) console.log(`[${name}] ${msg.text()}`);
  });
  page.on('pageerror', (err) => {
    throw err;
  });
  await page.goto(url);
  await page.getByLabel('Display name').fill(name);
  await page.getByRole('button', { name: 'Enter chat' }).click();
  await expect(connection(page)).toHaveText('Connected');
  await expect(messageLog(page)).toBeVisible();
  return page;
}

export const connection = (page: Page) => page.getByRole('status', { name: 'Connection' });
export const messageLog = (page: Page, room = 'general') =>
  page.getByRole('log', { name: `Messages in #${room}` });

export async function podOf(page: Page): Promise<string> {
  const text = (await page.getByRole('note', { name: 'Pod' }).textContent()) ?? '';
  return text.replace(/^Pod:\s*/, '').trim();
}

export async function say(page: Page, text: string): Promise<void> {
  await page.getByRole('textbox', { name: 'Message', exact: true }).fill(text);
  await page.getByRole('button', { name: 'Send' }).click();
}

/** The text of every message shown in the room, in display order (pending ones included). */
export async function shownTexts(page: Page, room = 'general'): Promise<string[]> {
  return messageLog(page, room).locator('li .message-text').allTextContents();
}

/** Messages still waiting for their ack (shown as pending or failed). */
export async function unconfirmed(page: Page, room = 'general'): Promise<number> {
  return messageLog(page, room).locator('li.pending, li.failed').count();
}

/** Records every text the connection indicator shows, however briefly (a MutationObserver). */
export async function recordConnectionTexts(page: Page): Promise<() => Promise<string[]>> {
  await page.evaluate(() => {
    const w = window as unknown as { __connectionTexts: string[] };
    w.__connectionTexts = [];
    const el = document.querySelector('[role="status"][aria-label="Connection"]');
    if (!el) throw new Error('no connection indicator');
    const record = () => {
      const t = el.textContent ?? '';
      if (w.__connectionTexts.at(-1) !== t) w.__connectionTexts.push(t);
    };
    record();
    new MutationObserver(record).observe(el, { childList: true, characterData: true, subtree: true });
  });
  return () => page.evaluate(() => (window as unknown as { __connectionTexts: string[] }).__connectionTexts);
}

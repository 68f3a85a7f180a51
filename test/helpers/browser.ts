import { chromium, type Browser } from 'playwright-core';

/** Debian's chromium (scripts/ensure-env.sh installs it for the tests). */
export const CHROMIUM = process.env.BEARMON_CHROMIUM ?? '/usr/bin/chromium';

/**
 * Headless Chromium driven by playwright-core (never `npx playwright install`). The flags
 * keep it off the network: without them it keeps trying to reach Google's services.
 * Playwright gives every launch a fresh profile directory.
 */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

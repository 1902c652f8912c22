// Headless Chromium for figures (SVG screenshots) and the notebook check (a page loaded over
// the DevTools protocol on a pipe, its console errors collected). Loopback and files only.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Readable, Writable } from 'node:stream';
import { execa } from 'execa';
import { deadlineExceeded, failedPrecondition, internal } from '../engine/errdefs/errors.js';
import { onPath } from '../engine/fsutil/on-path.js';

/** Loads of one page when Chromium reports the network changed under it. */
const MAX_ATTEMPTS = 3;

const CANDIDATES = ['chromium', 'chromium-browser', 'google-chrome'];

/** The Chromium binary ($CHROMIUM first, else the first of CANDIDATES on PATH), or undefined when none is installed. */
export function findChromium(): string | undefined {
  const env = process.env.CHROMIUM;
  if (env !== undefined && env !== '') return env;
  for (const name of CANDIDATES) {
    const path = onPath(name);
    if (path !== undefined) return path;
  }
  return undefined;
}

/** Flags that keep Chromium off the network and quiet (docs/host-notes.md, "Notebooks in a browser"). */
function baseFlags(userDataDir: string): string[] {
  return [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-quic',
    '--disable-default-apps',
    '--disable-extensions',
    '--no-first-run',
    '--no-default-browser-check',
    '--hide-scrollbars',
    `--user-data-dir=${userDataDir}`,
  ];
}

function requireChromium(): string {
  const bin = findChromium();
  if (bin === undefined)
    throw failedPrecondition('chromium: not installed (apt-get install chromium, or set CHROMIUM)');
  return bin;
}

/**
 * Renders `file` (an SVG or HTML file) to a PNG at `out`, `width`×`height` CSS pixels
 * at `scale` device pixels per CSS pixel. Fails with FAILED_PRECONDITION when Chromium
 * is missing, INTERNAL naming the file when it exits non-zero or writes nothing.
 * Cost: one Chromium start, about a second.
 */
export async function screenshot(file: string, out: string, width: number, height: number, scale = 2): Promise<void> {
  const bin = requireChromium();
  const profile = await mkdtemp(path.join(os.tmpdir(), `berth-chromium-${process.pid}-`));
  try {
    const r = await execa(
      bin,
      [
        ...baseFlags(profile),
        `--window-size=${Math.ceil(width)},${Math.ceil(height)}`,
        `--force-device-scale-factor=${scale}`,
        `--screenshot=${out}`,
        `file://${path.resolve(file)}`,
      ],
      { reject: false, timeout: 60_000 },
    );
    if (r.exitCode !== 0 || !existsSync(out))
      throw internal(
        `screenshot of ${file}: chromium exited ${r.exitCode ?? r.signal}: ${r.stderr.split('\n').slice(-3).join(' ')}`,
      );
  } finally {
    await rm(profile, { recursive: true, force: true });
  }
}

export interface PageReport {
  /** Console errors, uncaught exceptions and failed loads, as text. */
  errors: string[];
  /** The value of `probe` once `ready` held (or when the wait ended). */
  probe: unknown;
  /** Whether `ready` became true before the timeout. */
  ready: boolean;
}

export interface LoadOptions {
  /** A JS expression evaluated in the page every 250 ms until true. */
  ready: string;
  /** A JS expression whose JSON value is returned. */
  probe: string;
  timeoutMs?: number;
}

interface Session {
  /** Console errors, uncaught exceptions and failed loads since the last clear. */
  errors: string[];
  send(method: string, params?: Record<string, unknown>, timeoutMs?: number): Promise<Record<string, unknown>>;
  evaluate(expression: string): Promise<unknown>;
  close(): Promise<void>;
}

/**
 * Starts headless Chromium with the DevTools protocol on a pipe and attaches to a new
 * blank page; the caller must close() it (Chromium is killed if it does not exit).
 */
async function openSession(): Promise<Session> {
  const bin = requireChromium();
  const profile = await mkdtemp(path.join(os.tmpdir(), `berth-chromium-${process.pid}-`));
  const child = spawn(
    bin,
    [...baseFlags(profile), '--remote-debugging-pipe', '--window-size=1000,800', 'about:blank'],
    { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] },
  );
  const toChrome = child.stdio[3] as Writable;
  const fromChrome = child.stdio[4] as Readable;
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  const errors: string[] = [];
  let buffer = '';
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  fromChrome.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    let end: number;
    while ((end = buffer.indexOf('\0')) >= 0) {
      const msg = JSON.parse(buffer.slice(0, end)) as {
        id?: number;
        method?: string;
        params?: {
          type?: string;
          args?: { value?: unknown; description?: string }[];
          exceptionDetails?: { exception?: { description?: string }; text?: string };
          entry?: { level?: string; text?: string; url?: string };
        };
        result?: Record<string, unknown>;
        error?: { message: string };
      };
      buffer = buffer.slice(end + 1);
      if (msg.id !== undefined) {
        const p = pending.get(msg.id);
        pending.delete(msg.id);
        if (msg.error) p?.reject(new Error(msg.error.message));
        else p?.resolve(msg.result ?? {});
      } else if (
        msg.method === 'Runtime.consoleAPICalled' &&
        (msg.params?.type === 'error' || msg.params?.type === 'assert')
      ) {
        errors.push(
          `console.${msg.params.type}: ${(msg.params.args ?? []).map((a) => a.value ?? a.description ?? '').join(' ')}`,
        );
      } else if (msg.method === 'Runtime.exceptionThrown') {
        const d = msg.params?.exceptionDetails;
        errors.push(`exception: ${d?.exception?.description ?? d?.text ?? 'unknown'}`);
      } else if (msg.method === 'Log.entryAdded' && msg.params?.entry?.level === 'error') {
        errors.push(`log: ${msg.params.entry.text}${msg.params.entry.url ? ` (${msg.params.entry.url})` : ''}`);
      }
    }
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', () => {
    for (const p of pending.values()) p.reject(new Error(`chromium exited: ${stderr.split('\n').slice(-3).join(' ')}`));
    pending.clear();
  });
  const raw = (
    method: string,
    params: Record<string, unknown> = {},
    sessionId?: string,
    timeoutMs = 15_000,
  ): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(deadlineExceeded(`chromium: no answer to ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      toChrome.write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`);
    });
  const close = async () => {
    await raw('Browser.close', {}, undefined, 3_000).catch(() => undefined);
    const killer = setTimeout(() => child.kill('SIGKILL'), 3_000);
    await exited;
    clearTimeout(killer);
    await rm(profile, { recursive: true, force: true });
  };
  try {
    const { targetId } = (await raw('Target.createTarget', { url: 'about:blank' })) as { targetId: string };
    const { sessionId } = (await raw('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
    await raw('Runtime.enable', {}, sessionId);
    await raw('Log.enable', {}, sessionId);
    await raw('Page.enable', {}, sessionId);
    const send = (method: string, params: Record<string, unknown> = {}, timeoutMs?: number) =>
      raw(method, params, sessionId, timeoutMs);
    const evaluate = async (expression: string): Promise<unknown> => {
      const r = (await send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true })) as {
        result?: { value?: unknown };
      };
      return r.result?.value;
    };
    return { errors, send, evaluate, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * Opens `url` (http://127.0.0.1 only) in headless Chromium driven over the DevTools
 * protocol on a pipe, collects console errors (console.error, uncaught exceptions,
 * log entries of level error such as failed requests) from before the first script
 * runs, waits until `ready` evaluates true (or the timeout), then returns `probe`'s
 * value and the errors. A load that Chromium aborted with ERR_NETWORK_CHANGED (an
 * interface came or went on the host) is repeated, up to three loads in all. Chromium is ended in every case. Fails
 * with
 * FAILED_PRECONDITION when Chromium is missing, DEADLINE_EXCEEDED when it does not answer.
 */
export async function loadPage(url: string, opts: LoadOptions): Promise<PageReport> {
  if (!/^http:\/\/(127\.0\.0\.1|\[::1\]):\d+\//.test(url))
    throw failedPrecondition(`load page ${url}: only loopback URLs are opened`);
  const session = await openSession();
  try {
    let ready = false;
    let probe: unknown;
    for (let attempt = 1; ; attempt++) {
      session.errors.length = 0;
      await session.send('Page.navigate', { url });
      const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
      ready = false;
      while (Date.now() < deadline) {
        if ((await session.evaluate(`document.readyState === 'complete' && Boolean(${opts.ready})`)) === true) {
          ready = true;
          break;
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      probe = await session.evaluate(`JSON.parse(JSON.stringify(${opts.probe}))`);
      // Chromium aborts loads in flight when the host's interfaces change (other jobs
      // here create veths and namespaces); that says nothing about the page: load again.
      if (attempt < MAX_ATTEMPTS && session.errors.some((e) => e.includes('ERR_NETWORK_CHANGED'))) continue;
      break;
    }
    return { errors: [...session.errors], probe, ready };
  } finally {
    await session.close();
  }
}

export interface ScreenshotJob {
  /** An SVG or HTML file on disk. */
  file: string;
  /** Where the PNG goes (written directly: callers write to a temporary name and rename). */
  out: string;
  width: number;
  height: number;
}

/**
 * Renders many files to PNGs in one Chromium (over the DevTools protocol, files only):
 * each at `width`×`height` CSS pixels and `scale` device pixels per CSS pixel. Much
 * cheaper than one screenshot() per file. Fails with FAILED_PRECONDITION when Chromium
 * is missing, INTERNAL naming a file that does not load, DEADLINE_EXCEEDED when
 * Chromium does not answer.
 */
export async function screenshotMany(jobs: readonly ScreenshotJob[], scale = 2): Promise<void> {
  if (jobs.length === 0) return;
  const session = await openSession();
  try {
    for (const job of jobs) {
      const width = Math.ceil(job.width);
      const height = Math.ceil(job.height);
      await session.send('Emulation.setDeviceMetricsOverride', {
        width,
        height,
        deviceScaleFactor: scale,
        mobile: false,
      });
      const url = pathToFileURL(path.resolve(job.file)).href;
      await session.send('Page.navigate', { url });
      const deadline = Date.now() + 30_000;
      let loaded = false;
      while (!loaded && Date.now() < deadline) {
        loaded =
          (await session.evaluate(`location.href === ${JSON.stringify(url)} && document.readyState === 'complete'`)) ===
          true;
        if (!loaded) await new Promise((r) => setTimeout(r, 100));
      }
      if (!loaded) throw internal(`screenshot of ${job.file}: the file did not load within 30 s`);
      const shot = (await session.send(
        'Page.captureScreenshot',
        { format: 'png', clip: { x: 0, y: 0, width, height, scale: 1 }, captureBeyondViewport: true },
        60_000,
      )) as { data?: string };
      if (typeof shot.data !== 'string' || shot.data === '')
        throw internal(`screenshot of ${job.file}: chromium returned no image`);
      await writeFile(job.out, Buffer.from(shot.data, 'base64'));
    }
  } finally {
    await session.close();
  }
}

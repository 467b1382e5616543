// A real `numbers-api serve` on a temporary SQLite database, for `node --test` files: started
// as a user starts it (the command line), on a free port; accounts made and numbers loaded with
// the same command line. The python is $NUMBERS_API_PYTHON, else the repository's .venv.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Telnyx from 'telnyx';

const repository = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const python = process.env.NUMBERS_API_PYTHON || join(repository, '.venv', 'bin', 'python');

function freePort() {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.on('error', fail);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => done(port));
    });
  });
}

/** Start `numbers-api serve`; `rateLimit` 0 (the default here) switches the limit off. */
export async function startServer({ rateLimit = 0 } = {}) {
  const folder = mkdtempSync(join(tmpdir(), 'numbers-api-node-'));
  const databaseURL = `sqlite:///${join(folder, 'numbers.db')}`;
  const cli = (...args) =>
    execFileSync(python, ['-m', 'numbers_api', '--database-url', databaseURL, ...args], {
      encoding: 'utf8',
    });
  cli('accounts', 'create', 'setup'); // creates and migrates the database before serve starts
  const port = await freePort();
  const server = spawn(
    python,
    ['-m', 'numbers_api', '--database-url', databaseURL, 'serve', '--port', String(port),
      '--rate-limit', String(rateLimit)],
    // In a process group of its own, which `stop` ends whole: the server's index builders (and,
    // with --workers, its workers) would outlive it otherwise.
    { stdio: 'ignore', detached: true },
  );
  const killGroup = () => {
    try {
      process.kill(-server.pid, 'SIGKILL');
    } catch {
      // none of it left
    }
  };
  process.once('exit', killGroup); // should a test file end without `stop`
  const baseURL = `http://127.0.0.1:${port}/v2`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline || server.exitCode !== null) {
      killGroup();
      throw new Error('numbers-api serve did not start within 30 s');
    }
    await new Promise((wait) => setTimeout(wait, 100));
  }
  let accounts = 0;
  return {
    baseURL,
    cli,
    /** A new account holding `records` (the import's record form); its API key. */
    account(records = []) {
      return this.namedAccount(records).key;
    },
    /** A new account holding `records`: its name (for the command line) and its API key. */
    namedAccount(records = []) {
      const name = `node-${process.pid}-${++accounts}`;
      const key = cli('accounts', 'create', name).trim().split('\n').at(-1);
      if (records.length) {
        const file = join(folder, `${name}.jsonl`);
        writeFileSync(file, records.map((record) => JSON.stringify(record)).join('\n') + '\n');
        cli('import', file, '--account', name);
      }
      return { name, key };
    },
    /** An SDK client for `key`, with no retries unless asked. */
    client(key, options = {}) {
      return new Telnyx({ apiKey: key, baseURL, maxRetries: 0, ...options });
    },
    /** SIGTERM, as a user stops it; what is left of it after 10 s, or once it ended, killed. */
    async stop() {
      if (server.exitCode === null && server.signalCode === null) {
        const exited = new Promise((done) => server.once('exit', done));
        server.kill('SIGTERM');
        await Promise.race([exited, new Promise((wait) => setTimeout(wait, 10_000).unref())]);
      }
      killGroup();
      process.removeListener('exit', killGroup);
      rmSync(folder, { recursive: true, force: true });
    },
  };
}

let counter = 0;
/** A fresh, valid US number (+1 970 555 01xx style, unique within this process). */
export function freshNumber() {
  counter += 1;
  const line = String((process.pid * 1000 + counter) % 10000).padStart(4, '0');
  const exchange = 200 + ((process.pid + counter) % 700);
  return `+1970${exchange}${line}`;
}

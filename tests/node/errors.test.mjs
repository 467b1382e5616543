// The errors the Node SDK maps to its exception classes: 400, 401, 404, 422, and 429 with the
// SDK's own retry (on a second server with a rate limit).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import Telnyx from 'telnyx';
import { freshNumber, startServer } from './server.mjs';

let server;
let client;
let locked;

before(async () => {
  server = await startServer();
  client = server.client(server.account([{ phone_number: freshNumber(), deletion_lock_enabled: true }]));
  locked = (await client.phoneNumbers.list()).data[0].id;
});
after(() => server?.stop());

const code = (error) => error.error.errors[0].code;

describe('errors, as the SDK raises them', () => {
  test('400: BadRequestError, naming the parameter as sent', async () => {
    const error = await client.phoneNumbers.list({ filter: { status: 'enabled' } }).catch((e) => e);
    assert.ok(error instanceof Telnyx.BadRequestError, String(error));
    assert.equal(error.status, 400);
    assert.deepEqual(error.error.errors[0].source, { parameter: 'filter[status]' });
    const size = await client.phoneNumbers.list({ 'page[size]': 251 }).catch((e) => e);
    assert.ok(size instanceof Telnyx.BadRequestError);
    assert.deepEqual(size.error.errors[0].source, { parameter: 'page[size]' });
  });
  test('401: AuthenticationError for an unknown key', async () => {
    const stranger = server.client('KEYnot-a-key');
    const error = await stranger.phoneNumbers.list().catch((e) => e);
    assert.ok(error instanceof Telnyx.AuthenticationError, String(error));
    assert.equal(code(error), '10009');
  });
  test('404: NotFoundError for a number the account does not have', async () => {
    const error = await client.phoneNumbers.retrieve('1234567890').catch((e) => e);
    assert.ok(error instanceof Telnyx.NotFoundError, String(error));
    assert.equal(code(error), '10005');
  });
  test('422: UnprocessableEntityError for a bad body field and a deletion lock', async () => {
    const field = await client.phoneNumbers.update(locked, { tags: [''] }).catch((e) => e);
    assert.ok(field instanceof Telnyx.UnprocessableEntityError, String(field));
    assert.deepEqual(field.error.errors[0].source, { pointer: '/tags' });
    const lock = await client.phoneNumbers.delete(locked).catch((e) => e);
    assert.ok(lock instanceof Telnyx.UnprocessableEntityError, String(lock));
  });
});

describe('429', () => {
  let limited;
  before(async () => {
    limited = await startServer({ rateLimit: 1 });
  });
  after(() => limited?.stop());

  test('RateLimitError without retries; with them, the SDK waits as told and succeeds', async () => {
    // One request a second with a burst of one: two at once meet a 429. A machine slow enough
    // for the bucket to refill in between only makes it try again (up to 5 times).
    const key = limited.account([{ phone_number: freshNumber() }]);
    const impatient = limited.client(key);
    const burst = () => Promise.all([1, 2].map(() => impatient.phoneNumbers.list().catch((e) => e)));
    let error;
    for (let attempt = 0; attempt < 5 && !error; attempt++) {
      error = (await burst()).find((answer) => answer instanceof Error);
    }
    assert.ok(error instanceof Telnyx.RateLimitError, String(error));
    assert.equal(code(error), '10011');
    const sent = [];
    const counting = (url, init) => {
      sent.push(Date.now());
      return fetch(url, init);
    };
    const patient = limited.client(key, { maxRetries: 3, fetch: counting });
    for (let attempt = 0; attempt < 5 && sent.length < 2; attempt++) {
      sent.length = 0;
      await burst(); // the token is gone either way
      const page = await patient.phoneNumbers.list();
      assert.equal(page.data.length, 1);
    }
    assert.ok(sent.length >= 2, `one retry at least, sent ${sent.length}`);
  });
});

// Ordering through the Node SDK: search the available pool, reserve, order, receive the signed
// `number_order.complete` webhook (verified by the SDK's own `webhooks.unwrap` with the key
// `numbers-api webhooks public-key` prints), then list the numbers active with the order's
// settings; and what another account may not do meanwhile.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { startServer } from './server.mjs';

let server;
let receiver;
const received = [];

before(async () => {
  server = await startServer();
  receiver = createServer((request, response) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', () => {
      received.push({ body: Buffer.concat(chunks).toString('utf8'), headers: request.headers });
      response.writeHead(200).end();
    });
  });
  await new Promise((listening) => receiver.listen(0, '127.0.0.1', listening));
});
after(async () => {
  await server?.stop();
  receiver?.close();
});

async function until(check, what) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within 20 s`);
    await new Promise((wait) => setTimeout(wait, 100));
  }
}

describe('ordering', () => {
  test('search, reserve, order, a verified webhook, then the numbers listed active', async () => {
    const { name, key } = server.namedAccount();
    server.cli('webhooks', 'set', '--account', name, `http://127.0.0.1:${receiver.address().port}/${name}`);
    const client = server.client(key);
    const found = await client.availablePhoneNumbers.list({
      filter: { country_code: 'US', phone_number_type: 'local', features: ['sms', 'voice'], limit: 2 },
    });
    assert.equal(found.data.length, 2);
    assert.ok(found.meta.total_results >= 2);
    const [held, searched] = found.data.map((number) => number.phone_number);
    const reservation = await client.numberReservations.create({
      phone_numbers: [{ phone_number: held }],
    });
    assert.equal(reservation.data.phone_numbers[0].phone_number, held);
    const order = await client.numberOrders.create({
      phone_numbers: [{ phone_number: held }, { phone_number: searched }],
      customer_reference: 'node-order',
    });
    assert.equal(order.data.status, 'pending');
    const pending = [];
    for await (const number of client.phoneNumbers.list({ filter: { customer_reference: 'node-order' } })) {
      pending.push(number);
    }
    assert.deepEqual(pending.map((n) => n.status), ['purchase-pending', 'purchase-pending']);

    const webhook = await until(
      () => received.find((w) => JSON.parse(w.body).data.payload.id === order.data.id),
      'the number_order.complete webhook',
    );
    const publicKey = server.cli('webhooks', 'public-key').trim();
    const event = await client.webhooks.unwrap(webhook.body, { headers: webhook.headers, key: publicKey });
    assert.equal(event.data.event_type, 'number_order.complete');
    assert.equal(event.data.payload.status, 'success');
    await assert.rejects(
      client.webhooks.unwrap(webhook.body.replace('success', 'failure'), { headers: webhook.headers, key: publicKey }),
    );

    const active = [];
    for await (const number of client.phoneNumbers.list({ filter: { customer_reference: 'node-order' } })) {
      active.push(number);
    }
    assert.deepEqual(new Set(active.map((n) => n.phone_number)), new Set([held, searched]));
    for (const number of active) {
      assert.equal(number.status, 'active');
      assert.equal(number.source_type, 'number_order');
    }
  });

  test('another account can neither find nor order a reserved number', async () => {
    const holder = server.client(server.account());
    const other = server.client(server.account());
    const found = await holder.availablePhoneNumbers.list({ filter: { country_code: 'US', limit: 1 } });
    const number = found.data[0].phone_number;
    await holder.numberReservations.create({ phone_numbers: [{ phone_number: number }] });
    const seen = await other.availablePhoneNumbers.list({
      filter: { country_code: 'US', phone_number: { starts_with: number.slice(2) } },
    });
    assert.deepEqual(seen.data.map((n) => n.phone_number), []);
    const error = await other.numberOrders
      .create({ phone_numbers: [{ phone_number: number }] })
      .catch((failure) => failure);
    assert.ok(error instanceof other.constructor.UnprocessableEntityError);
    assert.equal(error.error.errors[0].source.pointer, '/phone_numbers/0/phone_number');
  });
});

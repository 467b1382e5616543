// The list (GET /v2/phone_numbers) through the Node SDK: every filter in the SDK's own shapes
// (qs: percent-encoded brackets, comma-joined arrays), auto-paging to the end, and the sorts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { freshNumber, startServer } from './server.mjs';

let server;
let client;
const numbers = {};

// One account whose numbers each stand out on one filter.
const records = {
  plain: {},
  tagged: { tags: ['sales', 'a b&c', 'x,y'] },
  canada: { phone_number: '+14165550123', country_iso_alpha2: 'CA' },
  ported: { status: 'port-pending', source_type: 'port_request' },
  purchased: { source_type: 'number_order', customer_reference: 'ref-1' },
  desk: { connection_id: '1293384261075731400', connection_name: 'Front Desk' },
  channel: { usage_payment_method: 'channel', connection_id: '77', connection_name: 'Back Office' },
  billed: { billing_group_id: 'bg-1', emergency_address_id: 'ea-1' },
  tollFree: { phone_number: '+18005550142', phone_number_type: 'toll_free' },
};

before(async () => {
  server = await startServer();
  const loaded = Object.entries(records).map(([name, fields], i) => {
    const record = { phone_number: freshNumber(), ...fields };
    record.purchased_at = `2024-01-${String(20 - i).padStart(2, '0')}T00:00:00Z`;
    numbers[name] = record.phone_number;
    return record;
  });
  client = server.client(server.account(loaded));
});
after(() => server?.stop());

async function listed(filter, extra = {}) {
  const found = [];
  for await (const number of client.phoneNumbers.list({ filter, ...extra })) {
    found.push(number.phone_number);
  }
  return found;
}

const only = (...names) => names.map((name) => numbers[name]).sort();

describe('every filter, in the shapes the Node SDK sends', () => {
  test('tag, including a space, & and a comma (percent-encoded, not split)', async () => {
    assert.deepEqual((await listed({ tag: 'sales' })).sort(), only('tagged'));
    assert.deepEqual((await listed({ tag: 'a b&c' })).sort(), only('tagged'));
    assert.deepEqual((await listed({ tag: 'x,y' })).sort(), only('tagged'));
  });
  test('the wire form: %5B%5D brackets, a space as %20, an array comma-joined as %2C', async () => {
    const sent = [];
    const recording = server.client(client.apiKey, {
      fetch: (url, init) => {
        sent.push(new URL(url).search);
        return fetch(url, init);
      },
    });
    const found = [];
    const filter = { tag: 'a b&c', country_iso_alpha2: ['US', 'CA'] };
    for await (const n of recording.phoneNumbers.list({ filter })) found.push(n.phone_number);
    assert.deepEqual(found, [numbers.tagged]);
    assert.equal(
      sent[0],
      '?filter%5Btag%5D=a%20b%26c&filter%5Bcountry_iso_alpha2%5D=US%2CCA',
    );
  });
  test('without_tags', async () => {
    const untagged = await listed({ without_tags: 'true' });
    assert.equal(untagged.length, Object.keys(records).length - 1);
    assert.ok(!untagged.includes(numbers.tagged));
    assert.equal((await listed({ without_tags: 'false' })).length, Object.keys(records).length);
  });
  test('phone_number with its leading + (sent as %2B)', async () => {
    assert.deepEqual(await listed({ phone_number: numbers.canada }), [numbers.canada]);
    assert.deepEqual(await listed({ phone_number: numbers.canada.slice(1) }), [numbers.canada]);
  });
  test('status', async () => {
    assert.deepEqual(await listed({ status: 'port-pending' }), [numbers.ported]);
  });
  test('country_iso_alpha2: one string, and an array (comma-joined as %2C)', async () => {
    assert.deepEqual(await listed({ country_iso_alpha2: 'CA' }), [numbers.canada]);
    assert.deepEqual(await listed({ country_iso_alpha2: ['CA'] }), [numbers.canada]);
    const both = await listed({ country_iso_alpha2: ['US', 'CA'] });
    assert.equal(both.length, Object.keys(records).length);
  });
  test('connection_id', async () => {
    assert.deepEqual(await listed({ connection_id: '1293384261075731400' }), [numbers.desk]);
  });
  test('voice.connection_name with each operator, and two at once', async () => {
    const name = (operators) => listed({ 'voice.connection_name': operators });
    assert.deepEqual(await name({ contains: 'desk' }), [numbers.desk]);
    assert.deepEqual(await name({ starts_with: 'front' }), [numbers.desk]);
    assert.deepEqual(await name({ ends_with: 'OFFICE' }), [numbers.channel]);
    assert.deepEqual(await name({ eq: 'front desk' }), [numbers.desk]);
    assert.deepEqual(await name({ starts_with: 'fro', ends_with: 'esk' }), [numbers.desk]);
  });
  test('voice.usage_payment_method', async () => {
    assert.deepEqual(await listed({ 'voice.usage_payment_method': 'channel' }), [numbers.channel]);
  });
  test('billing_group_id and emergency_address_id, with "null"', async () => {
    assert.deepEqual(await listed({ billing_group_id: 'bg-1' }), [numbers.billed]);
    assert.deepEqual(await listed({ emergency_address_id: 'ea-1' }), [numbers.billed]);
    const none = await listed({ billing_group_id: 'null' });
    assert.equal(none.length, Object.keys(records).length - 1);
  });
  test('customer_reference', async () => {
    assert.deepEqual(await listed({ customer_reference: 'ref-1' }), [numbers.purchased]);
  });
  test('number_type[eq]', async () => {
    assert.deepEqual(await listed({ number_type: { eq: 'toll_free' } }), [numbers.tollFree]);
  });
  test('source', async () => {
    assert.deepEqual(await listed({ source: 'ported' }), [numbers.ported]);
    assert.deepEqual(await listed({ source: 'purchased' }), [numbers.purchased]);
  });
  test('several filters combine with AND', async () => {
    assert.deepEqual(
      await listed({ country_iso_alpha2: ['US'], 'voice.connection_name': { contains: 'desk' } }),
      [numbers.desk],
    );
    assert.deepEqual(await listed({ country_iso_alpha2: 'CA', tag: 'sales' }), []);
  });
  test('handle_messaging_profile_error is accepted', async () => {
    assert.equal((await listed({}, { handle_messaging_profile_error: 'false' })).length, 9);
  });
});

describe('pages and sorts', () => {
  test('auto-paging visits every page to the end, each number once', async () => {
    const pages = [];
    let page = await client.phoneNumbers.list({ 'page[size]': 2 });
    pages.push(page.data.length);
    while (page.hasNextPage()) {
      page = await page.getNextPage();
      pages.push(page.data.length);
    }
    assert.deepEqual(pages, [2, 2, 2, 2, 1]);
    const all = await listed({}, { 'page[size]': 2 });
    assert.equal(all.length, 9);
    assert.equal(new Set(all).size, 9);
  });
  test('a page past the end is empty and ends the paging', async () => {
    const page = await client.phoneNumbers.list({ 'page[number]': 99, 'page[size]': 5 });
    assert.deepEqual(page.data, []);
    assert.equal(page.hasNextPage(), false);
  });
  test('sort=phone_number', async () => {
    const sorted = await listed({}, { sort: 'phone_number', 'page[size]': 3 });
    assert.deepEqual(sorted, [...sorted].sort());
    assert.equal(sorted.length, 9);
  });
  test('sort=purchased_at (ascending)', async () => {
    const sorted = await listed({}, { sort: 'purchased_at', 'page[size]': 4 });
    assert.deepEqual(sorted, Object.keys(records).reverse().map((name) => numbers[name]));
  });
  test('sort=connection_name: named first, case-insensitively', async () => {
    const sorted = await listed({}, { sort: 'connection_name' });
    assert.deepEqual(sorted.slice(0, 2), [numbers.channel, numbers.desk]);
  });
  test('sort=usage_payment_method: channel before pay-per-minute', async () => {
    const sorted = await listed({}, { sort: 'usage_payment_method' });
    assert.equal(sorted[0], numbers.channel);
  });
});

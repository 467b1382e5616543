// Each sub-resource through the Node SDK: one number (retrieve, update, delete), the slim list,
// voice and messaging settings, bulk jobs, CSV downloads, actions and voicemail.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { freshNumber, startServer } from './server.mjs';

const ALERTS = '4001767e-ce0f-4cae-9d5f-0d5e636e7809';
let server;

before(async () => {
  server = await startServer();
});
after(() => server?.stop());

/** A new account holding `records`; its client and its numbers' ids by number. */
async function account(...records) {
  const loaded = records.map((fields) => ({ phone_number: freshNumber(), ...fields }));
  const client = server.client(server.account(loaded));
  const ids = {};
  for await (const number of client.phoneNumbers.list()) ids[number.phone_number] = number.id;
  return { client, ids, numbers: loaded.map((record) => record.phone_number) };
}

async function until(check, what) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within 20 s`);
    await new Promise((wait) => setTimeout(wait, 100));
  }
}

describe('one number', () => {
  test('retrieve, update and then delete', async () => {
    const { client, ids } = await account({ tags: ['old'] });
    const [number, id] = Object.entries(ids)[0];
    const { data } = await client.phoneNumbers.retrieve(id);
    assert.equal(data.phone_number, number);
    assert.deepEqual(data.tags, ['old']);
    const updated = await client.phoneNumbers.update(id, { tags: ['vip'], customer_reference: 'c-1' });
    assert.deepEqual(updated.data.tags, ['vip']);
    assert.equal(updated.data.customer_reference, 'c-1');
    const found = [];
    for await (const n of client.phoneNumbers.list({ filter: { tag: 'vip' } })) found.push(n.id);
    assert.deepEqual(found, [id]);
    const deleted = await client.phoneNumbers.delete(id);
    assert.equal(deleted.data.id, id);
    await assert.rejects(client.phoneNumbers.retrieve(id), client.constructor.NotFoundError);
  });
});

describe('slim list', () => {
  test('filters, include_connection and include_tags (booleans sent as true)', async () => {
    const { client, numbers } = await account(
      { tags: ['sales'], connection_id: '42', connection_name: 'Front Desk' },
      { status: 'port-pending' },
    );
    const page = await client.phoneNumbers.slimList({
      filter: { tag: 'sales', country_iso_alpha2: ['US'] },
      include_connection: true,
      include_tags: true,
    });
    assert.equal(page.data.length, 1);
    assert.deepEqual(page.data[0].tags, ['sales']);
    assert.equal(page.data[0].connection_name, 'Front Desk');
    const pending = await client.phoneNumbers.slimList({ filter: { status: 'port_pending' } });
    assert.equal(pending.data.length, 1);
    const all = [];
    for await (const n of client.phoneNumbers.slimList({ 'page[size]': 1, sort: 'phone_number' })) {
      all.push(n.phone_number);
    }
    assert.deepEqual(all, [...numbers].sort());
  });
});

describe('voice settings', () => {
  test('update, retrieve, and the list with its filters', async () => {
    const { client, ids, numbers } = await account(
      { connection_id: '9', connection_name: 'Back Office' },
      {},
    );
    const [first, second] = numbers.map((number) => ids[number]);
    const updated = await client.phoneNumbers.voice.update(first, {
      call_forwarding: { forwards_to: '+13035559123', forwarding_type: 'on-failure' },
      tech_prefix_enabled: true,
      usage_payment_method: 'channel',
    });
    assert.equal(updated.data.call_forwarding.forwards_to, '+13035559123');
    assert.equal(updated.data.tech_prefix_enabled, true);
    const retrieved = await client.phoneNumbers.voice.retrieve(first);
    assert.deepEqual(retrieved.data, updated.data);
    const channel = await client.phoneNumbers.voice.list({
      filter: { 'voice.usage_payment_method': 'channel' },
    });
    assert.deepEqual(channel.data.map((n) => n.id), [first]);
    const named = await client.phoneNumbers.voice.list({ filter: { connection_name: { contains: 'office' } } });
    assert.deepEqual(named.data.map((n) => n.id), [first]);
    const all = [];
    for await (const n of client.phoneNumbers.voice.list({ 'page[size]': 1 })) all.push(n.id);
    assert.deepEqual(all.sort(), [first, second].sort());
  });
});

describe('messaging settings', () => {
  test('update, retrieve, and the list with its flat filter keys', async () => {
    // The account's messaging profile comes with its first number; the second gets it.
    const profile = { messaging_profile_id: ALERTS, messaging_profile_name: 'Alerts' };
    const { client, ids, numbers } = await account(profile, {});
    const number = numbers[1];
    const id = ids[number];
    const updated = await client.phoneNumbers.messaging.update(id, { messaging_profile_id: ALERTS });
    assert.equal(updated.data.messaging_profile_id, ALERTS);
    const retrieved = await client.phoneNumbers.messaging.retrieve(id);
    assert.equal(retrieved.data.messaging_profile_id, ALERTS);
    const byProfile = await client.phoneNumbers.messaging.list({ 'filter[messaging_profile_id]': ALERTS });
    assert.deepEqual(byProfile.data.map((n) => n.phone_number).sort(), [...numbers].sort());
    const byNumber = await client.phoneNumbers.messaging.list({ 'filter[phone_number]': number });
    assert.deepEqual(byNumber.data.map((n) => n.id), [id]);
    const contains = await client.phoneNumbers.messaging.list({
      'filter[phone_number][contains]': number.slice(-7),
      'sort[phone_number]': 'desc',
      'filter[type]': 'longcode',
    });
    assert.deepEqual(contains.data.map((n) => n.id), [id]);
  });
});

describe('bulk jobs', () => {
  const finished = (client, id) =>
    until(async () => {
      const { data } = await client.phoneNumbers.jobs.retrieve(id);
      return ['completed', 'failed'].includes(data.status) && data;
    }, `job ${id}`);

  test('update by filter, update emergency settings, delete, and the list', async () => {
    const { client, numbers } = await account({ status: 'port-pending' }, {}, {});
    const updated = await client.phoneNumbers.jobs.updateBatch({
      phone_numbers: [],
      filter: { status: 'port-pending' },
      tags: ['batch'],
    });
    assert.equal((await finished(client, updated.data.id)).status, 'completed');
    const tagged = await client.phoneNumbers.list({ filter: { tag: 'batch' } });
    assert.equal(tagged.data.length, 1);
    const emergency = await client.phoneNumbers.jobs.updateEmergencySettingsBatch({
      phone_numbers: [numbers[1]],
      emergency_enabled: true,
      emergency_address_id: 'addr-1',
    });
    assert.equal((await finished(client, emergency.data.id)).status, 'completed');
    const deleted = await client.phoneNumbers.jobs.deleteBatch({ phone_numbers: [numbers[2]] });
    assert.equal((await finished(client, deleted.data.id)).status, 'completed');
    const left = await client.phoneNumbers.list();
    assert.equal(left.data.length, 2);
    const jobs = [];
    for await (const job of client.phoneNumbers.jobs.list({ 'page[size]': 1, sort: 'created_at' })) {
      jobs.push(job.id);
    }
    assert.deepEqual(jobs, [updated.data.id, emergency.data.id, deleted.data.id]);
    const deletes = await client.phoneNumbers.jobs.list({ filter: { type: 'delete_phone_numbers' } });
    assert.deepEqual(deletes.data.map((job) => job.id), [deleted.data.id]);
  });
});

describe('CSV downloads', () => {
  test('create with a filter and a format, wait, fetch the file, list', async () => {
    const { client, numbers } = await account({ tags: ['sales'] }, {});
    const created = await client.phoneNumbers.csvDownloads.create({
      csv_format: 'V2',
      filter: { status: 'active', phone_number: numbers[0] },
    });
    const id = created.data[0].id;
    const download = await until(async () => {
      const { data } = await client.phoneNumbers.csvDownloads.retrieve(id);
      return data[0].status !== 'pending' && data[0];
    }, `download ${id}`);
    assert.equal(download.status, 'complete');
    const file = await fetch(download.url, { headers: { Authorization: `Bearer ${client.apiKey}` } });
    assert.equal(file.status, 200);
    const lines = (await file.text()).trim().split('\n');
    assert.equal(lines.length, 2);
    assert.ok(lines[1].includes(numbers[0]));
    const listed = [];
    for await (const d of client.phoneNumbers.csvDownloads.list({ 'page[size]': 1 })) listed.push(d.id);
    assert.deepEqual(listed, [id]);
  });
});

describe('actions and voicemail', () => {
  test('enable_emergency, bundle_status_change, verify_ownership', async () => {
    const { client, ids, numbers } = await account({}, {});
    const id = ids[numbers[0]];
    const emergency = await client.phoneNumbers.actions.enableEmergency(id, {
      emergency_address_id: 'addr-9',
      emergency_enabled: true,
    });
    assert.equal(emergency.data.emergency.emergency_address_id, 'addr-9');
    const bundle = await client.phoneNumbers.actions.changeBundleStatus(id, {
      bundle_id: '5f4ab2a4-4b77-4a07-a1a6-ff6e3e3c2c0f',
    });
    assert.equal(bundle.data.id, id);
    const verified = await client.phoneNumbers.actions.verifyOwnership({
      phone_numbers: [numbers[1], '+19705550199'],
    });
    assert.deepEqual(verified.data.found.map((f) => f.number_val_e164), [numbers[1]]);
    assert.deepEqual(verified.data.not_found, ['+19705550199']);
  });
  test('voicemail: create, update, retrieve', async () => {
    const { client, ids } = await account({});
    const id = Object.values(ids)[0];
    await assert.rejects(client.phoneNumbers.voicemail.retrieve(id), client.constructor.NotFoundError);
    const created = await client.phoneNumbers.voicemail.create(id, { enabled: true, pin: '1234' });
    assert.deepEqual([created.data.enabled, created.data.pin], [true, '1234']);
    await client.phoneNumbers.voicemail.update(id, { pin: '4321' });
    const retrieved = await client.phoneNumbers.voicemail.retrieve(id);
    assert.deepEqual([retrieved.data.enabled, retrieved.data.pin], [true, '4321']);
  });
});

// A kafkajs consumer group `g` on topic `jobs` whose membership changes once each way:
// g-1 consumes alone, g-2 joins, both consume a little, g-2 leaves (disconnect: LeaveGroup),
// g-1 consumes alone again and leaves. Driven by ../record_findings_kafkajs.py.
//
// usage: node group.js BOOTSTRAP(host:port,...)
'use strict';
const { Kafka, logLevel } = require('kafkajs');

const brokers = process.argv[2].split(',');
const topic = 'jobs';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.error(new Date().toISOString(), ...a);

function kafka(clientId) {
  return new Kafka({ clientId, brokers, logLevel: logLevel.NOTHING, retry: { retries: 3 } });
}

async function produce(n, from) {
  const p = kafka('jobs-producer').producer();
  await p.connect();
  const messages = [];
  for (let i = from; i < from + n; i++) messages.push({ key: `k${i % 4}`, value: `job ${i}` });
  await p.send({ topic, messages });
  await p.disconnect();
}

async function member(clientId) {
  const c = kafka(clientId).consumer({
    groupId: 'g',
    sessionTimeout: 6000,
    heartbeatInterval: 500,
    rebalanceTimeout: 10000,
  });
  let got = 0;
  await c.connect();
  await c.subscribe({ topic, fromBeginning: true });
  await c.run({ eachMessage: async () => { got += 1; } });
  return { c, got: () => got };
}

(async () => {
  await produce(20, 0);
  const one = await member('g-1');
  await sleep(6000);
  log('g-1 consumed', one.got());
  const two = await member('g-2');
  await sleep(5000);
  await produce(20, 20);
  await sleep(3000);
  log('g-2 consumed', two.got(), '; leaving');
  await two.c.disconnect();
  await sleep(4000);
  await produce(10, 40);
  await sleep(3000);
  log('g-1 consumed', one.got(), '; leaving');
  await one.c.disconnect();
})().catch((e) => { log('error', e); process.exit(1); });

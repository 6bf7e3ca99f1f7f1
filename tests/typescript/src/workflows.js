// Workflows of the smoke test. They run in the SDK's sandbox, bundled by the worker.
const { proxyActivities, defineSignal, defineQuery, defineUpdate, setHandler, condition, sleep, executeChild, continueAsNew } = require('@temporalio/workflow');

const { greet } = proxyActivities({ startToCloseTimeout: '10 seconds' });

const finish = defineSignal('finish');
const items = defineQuery('items');
const add = defineUpdate('add');

async function greeting(name) {
  await sleep(100);
  return await greet(name);
}

async function collector() {
  const collected = [];
  let done = false;
  setHandler(finish, () => { done = true; });
  setHandler(items, () => collected);
  setHandler(add, (item) => { collected.push(item); return collected.length; });
  await condition(() => done);
  return collected;
}

async function parent(name) {
  return await executeChild(greeting, { args: [name], workflowId: `${name}-child` });
}

async function countdown(n) {
  if (n > 0) {
    await continueAsNew(n - 1);
  }
  return 'liftoff';
}

module.exports = { greeting, collector, parent, countdown };

// Runs the official Temporal TypeScript SDK (client and worker) against a server:
//   node src/smoke.js host:port
// Prints one line per check and exits non-zero on the first failure.
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const path = require('node:path');
const { Connection, Client } = require('@temporalio/client');
const { Worker, NativeConnection, Runtime, DefaultLogger } = require('@temporalio/worker');

async function main() {
  const address = process.argv[2];
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const taskQueue = `ts-smoke-${crypto.randomUUID()}`;
  const worker = await Worker.create({
    connection: await NativeConnection.connect({ address }),
    namespace: 'default',
    taskQueue,
    workflowsPath: path.join(__dirname, 'workflows.js'),
    activities: { greet: async (name) => `Hello, ${name}!` },
  });
  const client = new Client({ connection: await Connection.connect({ address }), namespace: 'default' });
  const id = (name) => `${name}-${crypto.randomUUID()}`;

  await worker.runUntil(async () => {
    const greeting = await client.workflow.execute('greeting', { taskQueue, workflowId: id('greeting'), args: ['TypeScript'] });
    assert.equal(greeting, 'Hello, TypeScript!');
    console.log('activity and timer: ok');

    const handle = await client.workflow.start('collector', { taskQueue, workflowId: id('collector') });
    assert.equal(await handle.executeUpdate('add', { args: ['a'] }), 1);
    await handle.signal('finish');
    assert.deepEqual(await handle.result(), ['a']);
    assert.deepEqual(await handle.query('items'), ['a']);
    console.log('update, signal and query: ok');

    const parent = await client.workflow.execute('parent', { taskQueue, workflowId: id('parent'), args: ['child'] });
    assert.equal(parent, 'Hello, child!');
    console.log('child workflow: ok');

    assert.equal(await client.workflow.execute('countdown', { taskQueue, workflowId: id('countdown'), args: [2] }), 'liftoff');
    console.log('continue-as-new: ok');

    const described = await handle.describe();
    assert.equal(described.status.name, 'COMPLETED');
    console.log('describe: ok');

    // A reset to the first workflow task: the update and the signal after it are written
    // again, so the new run ends as the first did.
    const { runId } = await client.workflowService.resetWorkflowExecution({
      namespace: 'default',
      workflowExecution: { workflowId: handle.workflowId, runId: described.runId },
      reason: 'smoke',
      workflowTaskFinishEventId: 4,
      requestId: crypto.randomUUID(),
    });
    assert.notEqual(runId, described.runId);
    const reset = client.workflow.getHandle(handle.workflowId, runId);
    assert.deepEqual(await reset.result(), ['a']);
    const types = (await reset.fetchHistory()).events.map((e) => e.eventType);
    assert.ok(types.includes(9 /* WORKFLOW_TASK_FAILED */) && types.includes(47 /* UPDATE_ADMITTED */), types);
    console.log('reset: ok');

    // A schedule: triggered now, its workflow named after the time, then paused and deleted.
    const scheduleId = id('schedule');
    const schedule = await client.schedule.create({
      scheduleId,
      spec: { calendars: [{ hour: 12, dayOfWeek: 'FRIDAY' }] },
      action: { type: 'startWorkflow', workflowType: 'greeting', args: ['schedule'], taskQueue, workflowId: `${scheduleId}-wf` },
    });
    let scheduled = await schedule.describe();
    assert.equal(scheduled.info.nextActionTimes.length, 10);
    assert.ok(scheduled.info.nextActionTimes.every((t) => t.getUTCHours() === 12 && t.getUTCDay() === 5));
    await schedule.trigger();
    for (let tries = 0; scheduled.info.recentActions.length === 0 && tries < 300; tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, 50)); // poll interval
      scheduled = await schedule.describe();
    }
    const started = scheduled.info.recentActions[0].action.workflow.workflowId;
    assert.match(started, new RegExp(`^${scheduleId}-wf-\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ$`));
    assert.equal(await client.workflow.getHandle(started).result(), 'Hello, schedule!');
    await schedule.pause('done');
    assert.equal((await schedule.describe()).state.paused, true);
    await schedule.delete();
    console.log('schedule: ok');
  });
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);

#!/usr/bin/env node
// bullmq-noop.js - the BullMQ side of bench/noop-throughput: `add` puts N jobs into a queue with
// addBulk (before the clock starts), `work` runs one no-op Worker (concurrency C) until N jobs
// have completed and prints its wall time and its own CPU time as key=value.
//   node bench/bullmq-noop.js add  PORT JOBS
//   node bench/bullmq-noop.js work PORT JOBS CONCURRENCY T0_MS TIMEOUT_S
'use strict';
const { Queue, Worker } = require('bullmq');

const QUEUE = 'bench-noop';
const [mode, portArg, jobsArg, concArg, t0Arg, timeoutArg] = process.argv.slice(2);
const connection = { host: '127.0.0.1', port: Number(portArg) };
const jobs = Number(jobsArg);

async function add() {
	const queue = new Queue(QUEUE, { connection });
	const t0 = Date.now();
	const CHUNK = 1000;		// one addBulk call per 1000 jobs keeps each MULTI moderate
	for (let i = 0; i < jobs; i += CHUNK) {
		const bulk = [];
		for (let j = i; j < Math.min(jobs, i + CHUNK); j++)
			bulk.push({ name: 'noop', data: { i: j } });
		await queue.addBulk(bulk);
	}
	const waiting = await queue.getWaitingCount();
	console.log(`added=${jobs} waiting=${waiting} add_ms=${Date.now() - t0}`);
	await queue.close();
	if (waiting !== jobs)
		process.exit(1);
}

async function work() {
	const concurrency = Number(concArg);
	const t0 = Number(t0Arg);		// wall clock when the caller started this process
	let done = 0, failed = 0, first = 0;
	let finish;
	const allDone = new Promise((resolve) => { finish = resolve; });
	const worker = new Worker(QUEUE, async () => {}, { connection, concurrency });
	worker.on('completed', () => {
		if (!first)
			first = Date.now();
		if (++done === jobs)
			finish(false);
	});
	worker.on('failed', () => { failed++; });
	worker.on('error', (err) => { console.error('worker error:', err.message); });
	const timer = setTimeout(() => finish(true), Number(timeoutArg) * 1000);
	const timedOut = await allDone;
	const t1 = Date.now();
	const cpu = process.cpuUsage();	// whole process, all threads, since it started
	clearTimeout(timer);
	console.log(`wall_ms=${t1 - t0} completed=${done} failed=${failed} ` +
		`first_completion_ms=${first ? first - t0 : -1} ` +
		`cpu_ms=${Math.round((cpu.user + cpu.system) / 1000)} timeout=${timedOut ? 1 : 0}`);
	await worker.close(true);
	process.exit(timedOut || failed ? 1 : 0);
}

if (mode === 'add' && process.argv.length === 5)
	add().catch((e) => { console.error(e); process.exit(1); });
else if (mode === 'work' && process.argv.length === 8)
	work().catch((e) => { console.error(e); process.exit(1); });
else {
	console.error('usage: bullmq-noop.js add PORT JOBS | work PORT JOBS CONCURRENCY T0_MS TIMEOUT_S');
	process.exit(2);
}

// fleet.js - the admin "Fleet" page at #/fleet (GET /admin/fleet): workers, queue, running
// executions against the caps, parked jobs and why, AMC cancels, recent errors by kind;
// refreshed every few seconds while open. The nav shows its link to admins (app.js, GET /me).
import { h, fill } from './dom.js';
import { get } from './api.js';

const REFRESH_MS = 3000;

function age(ms) {
	if (ms === null || ms === undefined) return '\u2013';
	const s = Math.floor(ms / 1000);
	if (s < 60) return s + 's';
	if (s < 3600) return Math.floor(s / 60) + 'm ' + (s % 60) + 's';
	if (s < 86400) return Math.floor(s / 3600) + 'h ' + Math.floor(s / 60) % 60 + 'm';
	return Math.floor(s / 86400) + 'd ' + Math.floor(s / 3600) % 24 + 'h';
}

function table(testid, head, rows, empty) {
	if (!rows.length) return h('p', { class: 'muted', 'data-testid': testid }, empty);
	return h('table', { 'data-testid': testid },
		h('thead', null, h('tr', null, ...head.map((c) => h('th', null, c)))),
		h('tbody', null, ...rows));
}

function section(title, ...body) {
	return h('section', { class: 'panel' }, h('h2', null, title), ...body);
}

function render(box, f) {
	const w = f.workers, q = f.queue, caps = f.caps;
	const workers = w.items.map((x) => h('tr', { 'data-worker': x.id },
		h('td', null, x.id), h('td', null, x.host || '\u2013'), h('td', null, x.version || '\u2013'),
		h('td', null, x.uptime_seconds === null ? '\u2013' : age(x.uptime_seconds * 1000)),
		h('td', { class: 'num' }, String(x.jobs_held)), h('td', null, age(x.last_heartbeat_age_ms) + ' ago'),
		h('td', null, x.lease_alive ? h('span', { class: 'badge st-completed' }, 'alive') : h('span', { class: 'badge st-failed' }, 'gone'),
			// claims_paused: the worker takes no new jobs, and says why (its result spool cannot be written)
			x.claims_paused ? h('span', { class: 'badge st-retry_wait', title: x.claims_paused, 'data-testid': 'claims-paused' }, 'claims paused') : null)));
	const batches = q.by_batch.map((b) => h('tr', null,
		h('td', null, h('a', { href: '#/batch/' + b.batch_id }, b.batch_id)),
		h('td', { class: 'num' }, String(b.ready)), h('td', null, age(b.oldest_queued_age_ms))));
	const slotRow = (kind, id, x) => h('tr', { class: x.full ? 'full' : '' },
		h('td', null, kind), h('td', null, id), h('td', { class: 'num' }, x.running + ' / ' + x.cap),
		h('td', null, h('div', { class: 'fleet-bar', title: x.running + ' of ' + x.cap },
			h('div', { class: 'fleet-fill', style: { width: Math.min(100, Math.round(100 * x.running / Math.max(1, x.cap))) + '%' } }))));
	const slots = [...f.running.instances.map((x) => slotRow('instance', x.amc_instance_id, x)),
		...f.running.accounts.map((x) => slotRow('account', x.account_id, x))];
	const parked = f.parked.items.map((p) => h('tr', null,
		h('td', null, p.kind), h('td', null, p.id), h('td', { class: 'num' }, String(p.waiting)),
		h('td', null, age(p.oldest_queued_age_ms)), h('td', null, p.reason)));
	const kinds = f.errors.by_kind.map((k) => h('tr', null,
		h('td', null, k.kind), h('td', { class: 'num' }, String(k.count)), h('td', { class: 'small' }, k.example)));
	const recent = f.errors.recent.map((e) => h('tr', null,
		h('td', null, new Date(e.at_ms).toLocaleTimeString()), h('td', null, e.kind),
		h('td', null, h('a', { href: '#/batch/' + e.batch_id }, e.batch_id)), h('td', null, e.amc_instance_id),
		h('td', { class: 'small' }, e.error)));
	fill(box, 
		section('Workers (' + w.live + ' live of ' + w.total + ')',
			table('fleet-workers', ['Worker', 'Host', 'Version', 'Uptime', 'Jobs', 'Heartbeat', 'Lease'], workers, 'No workers.')),
		section('Queue: ' + q.ready + ' ready in ' + q.batches + ' batches' +
			(q.oldest_queued_age_ms !== null ? ', oldest ' + age(q.oldest_queued_age_ms) : '') +
			'; ' + q.retry_wait + ' waiting to retry',
			table('fleet-queue', ['Batch', 'Ready', 'Oldest'], batches, 'Nothing queued.')),
		section('Running against the caps (instance ' + caps.instance_cap + ', account ' + caps.account_cap + ')',
			table('fleet-caps', ['Kind', 'ID', 'Running', ''], slots, 'Nothing running.')),
		section('Parked (' + f.parked.total + ')',
			table('fleet-parked', ['On', 'ID', 'Waiting', 'Oldest', 'Why'], parked, 'No parked jobs.')),
		section('Recent AMC errors',
			table('fleet-errors', ['Kind', 'Count', 'Latest'], kinds, 'No recent errors.'),
			recent.length ? table('fleet-recent', ['When', 'Kind', 'Batch', 'Instance', 'Error'], recent, '') : null),
		h('p', { class: 'muted small' }, 'AMC cancels pending: ' + f.amc_cancels.pending + ' (' + f.amc_cancels.due +
			' due) \u00b7 refreshed ' + new Date().toLocaleTimeString() + ', every ' + REFRESH_MS / 1000 + ' s'));
}

// Renders the page into view and refreshes it; returns the cleanup (clears the timer).
export function fleetView(view) {
	const box = h('div', { 'data-testid': 'fleet' }, h('p', { class: 'muted' }, 'Loading\u2026'));
	const err = h('div', { class: 'form-error', role: 'alert' });
	let timer = null, gone = false;
	fill(view, h('h1', null, 'Fleet'), err, box);
	const tick = async () => {
		try {
			const f = await get('/admin/fleet');
			if (gone) return;
			err.textContent = '';
			render(box, f);
		} catch (e) {
			if (gone) return;
			err.textContent = e.status === 403 ? 'The fleet view is for admins.' : e.message;
		}
		if (!gone) timer = setTimeout(tick, REFRESH_MS);
	};
	tick();
	return () => { gone = true; if (timer) clearTimeout(timer); };
}

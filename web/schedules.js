// schedules.js - recurring batches: the cron/time-zone/overlap fields with a live reading and
// the next five runs (the server evaluates the cron, DST and all: GET /schedules/preview), the
// schedules list (#/schedules) and one schedule's page with its runs (#/schedules/{id}).
import { h, clear, fill, badge, fmtTime, fmtWindow, fmtPolicy, toast, confirmDialog, debounce } from './dom.js';
import { get, post, request, ApiError } from './api.js';

const browserZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

// "Mon 7 Dec 2026, 06:00" in zone: what the schedule's owner reads the slot as.
function fmtIn(iso, zone) {
	if (!iso) return '–';
	try {
		return new Date(iso).toLocaleString(undefined, { timeZone: zone, weekday: 'short', year: 'numeric',
			month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
	} catch (e) { return fmtTime(iso); }
}

// The cron, time zone and overlap inputs of a schedule, with a live reading and the next five
// runs. box(field, label, control, hint) lays out one field (the caller's own field boxes, so
// API errors land at the input they name). .value() gives {cron, timezone, overlap}.
export function scheduleFields(box, initial) {
	const init = initial || {};
	const cron = h('input', { type: 'text', name: 'cron', class: 'mono', value: init.cron || '0 6 * * MON',
		placeholder: 'minute hour day month weekday', 'data-testid': 'schedule-cron' });
	const zone = h('input', { type: 'text', name: 'timezone', value: init.timezone || browserZone(),
		list: 'amcb-zones', 'data-testid': 'schedule-timezone' });
	const zones = h('datalist', { id: 'amcb-zones' }, (Intl.supportedValuesOf ? Intl.supportedValuesOf('timeZone') : [])
		.map((z) => h('option', { value: z })));
	const overlap = h('select', { name: 'overlap', 'data-testid': 'schedule-overlap' },
		h('option', { value: 'skip' }, 'skip that run (recorded)'),
		h('option', { value: 'queue' }, 'start it when the previous run ends'));
	overlap.value = init.overlap || 'skip';
	const reading = h('div', { class: 'cron-reading', 'data-testid': 'schedule-reading', 'aria-live': 'polite' });
	const nextList = h('ol', { class: 'next-runs small', 'data-testid': 'schedule-next' });
	let seq = 0;
	const refresh = debounce(async () => {
		const mine = ++seq;
		const q = new URLSearchParams({ cron: cron.value.trim(), timezone: zone.value.trim() || 'UTC', count: 5 });
		try {
			const p = await get('/schedules/preview?' + q);
			if (mine !== seq) return;
			reading.classList.remove('error');
			reading.textContent = p.cron_description;
			fill(nextList, ...p.next_runs.map((t) => h('li', null, fmtIn(t, p.timezone))));
		} catch (e) {
			if (mine !== seq) return;
			reading.classList.add('error');
			reading.textContent = e.message;
			clear(nextList);
		}
	}, 250);
	cron.addEventListener('input', refresh);
	zone.addEventListener('input', refresh);
	refresh();
	const el = h('div', { class: 'schedule-fields' },
		h('div', { class: 'grid2' },
			box('cron', 'Cron', cron, 'minute hour day-of-month month day-of-week, e.g. 0 6 * * MON'),
			box('timezone', 'Time zone', h('span', null, zone, zones), 'the cron runs on this zone\u2019s clock')),
		reading, h('div', { class: 'muted small' }, 'Next runs:'), nextList,
		box('overlap', 'When a run is still going at the next time', overlap));
	return { el, value: () => ({ cron: cron.value.trim(), timezone: zone.value.trim() || 'UTC', overlap: overlap.value }) };
}

// ---- the list -------------------------------------------------------------------------------

async function act(path, what) {
	try {
		await post(path);
		toast(what);
		return true;
	} catch (e) {
		toast(e.message, 'error');
		return false;
	}
}

export async function schedulesView(view, stale) {
	const { schedules } = await get('/schedules?limit=200');
	if (stale()) return;
	const rerun = () => window.dispatchEvent(new HashChangeEvent('hashchange'));
	fill(view, h('div', { class: 'page-head' }, h('div', null, h('h1', null, 'Schedules'),
		h('p', { class: 'muted' }, 'Recurring batches. Create one from a workflow\u2019s \u201cRun batch\u201d, choosing \u201cOn a schedule\u201d.'))),
	h('table', { class: 'data', 'data-testid': 'schedules' },
		h('thead', null, h('tr', null, ['Name', 'Workflow', 'When', 'Next run', 'Last run', ''].map((c) => h('th', null, c)))),
		h('tbody', null, schedules.map((s) => h('tr', { 'data-schedule': s.id },
			h('td', null, h('a', { href: '#/schedules/' + s.id }, s.name),
				s.enabled ? null : h('span', { class: 'tag' }, 'paused')),
			h('td', null, s.workflow_name),
			h('td', null, s.cron_description, h('div', { class: 'muted small mono' }, s.cron)),
			h('td', null, s.enabled ? fmtIn(s.next_run_at, s.timezone) : '–'),
			h('td', null, s.last_run ? [badge(s.last_run.status || s.last_run.outcome), ' ',
				s.last_run.batch_id ? h('a', { href: '#/batch/' + s.last_run.batch_id }, s.last_run.batch_id) : null] : '–'),
			h('td', { class: 'right' },
				h('button', { type: 'button', class: 'secondary', onclick: async () => {
					if (await act('/schedules/' + s.id + (s.enabled ? '/pause' : '/resume'), s.enabled ? 'Paused' : 'Resumed')) rerun();
				} }, s.enabled ? 'Pause' : 'Resume')))))),
	schedules.length === 0 ? h('p', { class: 'muted' }, 'No schedule yet.') : null);
}

// ---- one schedule ---------------------------------------------------------------------------

function runsTable(runs) {
	return h('table', { class: 'data', 'data-testid': 'schedule-runs' },
		h('thead', null, h('tr', null, ['Scheduled for', 'Trigger', 'Outcome', 'Instances', 'Batch', 'Notes'].map((c) => h('th', null, c)))),
		h('tbody', null, runs.map((r) => h('tr', { 'data-outcome': r.outcome },
			h('td', null, fmtTime(r.scheduled_for)),
			h('td', null, r.trigger === 'manual' ? 'run now' : 'schedule'),
			h('td', null, badge(r.outcome === 'started' && r.status ? r.status : r.outcome)),
			h('td', { class: 'num' }, r.batch_id ? r.completed_instances + ' / ' + r.total_instances +
				(r.failed_instances ? ' (' + r.failed_instances + ' failed)' : '') : ''),
			h('td', null, r.batch_id ? h('a', { href: '#/batch/' + r.batch_id }, r.batch_id) : ''),
			h('td', { class: 'small' },
				r.reason === 'missed' ? 'missed while amcbatch was not running'
					: r.reason === 'overlap' ? 'the previous run was still going' : r.reason || '',
				r.missed ? h('div', { class: 'muted' }, r.missed + ' earlier slot' + (r.missed === 1 ? '' : 's') + ' missed') : null,
				(r.refused_instances || []).map((x) => h('div', { class: 'error' }, x.instance_id + ': ' + x.message)))))));
}

function editForm(s, done) {
	const err = h('div', { class: 'form-error', role: 'alert' });
	const box = (field, label, control, hint) => h('div', { class: 'field', 'data-field': field },
		h('label', null, label, hint ? h('span', { class: 'muted small' }, ' ' + hint) : null), control,
		h('div', { class: 'field-error' }));
	const name = h('input', { type: 'text', name: 'name', value: s.name, maxlength: 200 });
	const f = scheduleFields(box, s);
	const save = h('button', { type: 'submit', class: 'primary', 'data-testid': 'schedule-save' }, 'Save');
	const form = h('form', { class: 'panel', novalidate: true, 'data-testid': 'schedule-edit', onsubmit: async (e) => {
		e.preventDefault();
		err.textContent = '';
		for (const b of form.querySelectorAll('.field.invalid')) { b.classList.remove('invalid'); b.querySelector('.field-error').textContent = ''; }
		save.disabled = true;
		try {
			await request('PATCH', '/schedules/' + s.id, { name: name.value.trim(), ...f.value() });
			toast('Schedule saved');
			done();
		} catch (ex) {
			const b = ex.field && form.querySelector('[data-field="' + CSS.escape(ex.field) + '"]');
			if (b) { b.classList.add('invalid'); b.querySelector('.field-error').textContent = ex.message; } else err.textContent = ex.message;
		} finally { save.disabled = false; }
	} }, h('h2', null, 'Edit'), box('name', 'Name', name), f.el, err,
	h('div', { class: 'inline' }, save, h('button', { type: 'button', class: 'secondary', onclick: done }, 'Cancel')));
	return form;
}

export async function scheduleView(view, id, stale) {
	let s, runs;
	try {
		[{ schedule: s }, { runs }] = await Promise.all([get('/schedules/' + encodeURIComponent(id)),
			get('/schedules/' + encodeURIComponent(id) + '/runs?limit=100')]);
	} catch (e) {
		if (e instanceof ApiError && e.status === 404) {
			if (!stale()) fill(view, h('div', { class: 'panel' }, h('h1', null, 'Schedule not found'),
				h('p', { class: 'muted' }, 'It does not exist, or it is not yours.'), h('a', { href: '#/schedules' }, 'All schedules')));
			return;
		}
		throw e;
	}
	if (stale()) return;
	const again = () => scheduleView(view, id, stale);
	const editBox = h('div');
	const button = (label, testid, onclick, cls) => h('button', { type: 'button', class: cls || 'secondary', 'data-testid': testid, onclick }, label);
	fill(view, 
		h('div', { class: 'page-head' }, h('div', null, h('h1', { 'data-testid': 'schedule-name' }, s.name,
			s.enabled ? null : h('span', { class: 'tag' }, 'paused')),
		h('p', { class: 'muted' }, h('a', { href: '#/workflows/' + s.workflow_id }, s.workflow_name), ' \u00b7 ',
			s.instance_ids.length + ' instance' + (s.instance_ids.length === 1 ? '' : 's'))),
		h('span', { class: 'inline' },
			button(s.enabled ? 'Pause' : 'Resume', 'schedule-toggle', async () => {
				if (await act('/schedules/' + s.id + (s.enabled ? '/pause' : '/resume'), s.enabled ? 'Paused' : 'Resumed')) again();
			}),
			button('Run now', 'schedule-run-now', async () => {
				try {
					const r = await post('/schedules/' + s.id + '/run-now');
					toast('Batch ' + r.batch.batch_id + ' started');
					location.hash = '#/batch/' + r.batch.batch_id;
				} catch (e) { toast(e.message, 'error'); }
			}, 'primary'),
			button('Edit', 'schedule-edit-open', () => fill(editBox, editForm(s, again))),
			button('Delete', 'schedule-delete', async () => {
				if (!await confirmDialog('Delete this schedule?', 'Its batches stay; no further run starts.', 'Delete')) return;
				try {
					await request('DELETE', '/schedules/' + s.id);
					toast('Schedule deleted');
					location.hash = '#/schedules';
				} catch (e) { toast(e.message, 'error'); }
			}, 'danger'))),
		h('section', { class: 'panel' }, h('h2', null, 'When'),
			h('p', { 'data-testid': 'schedule-description' }, s.cron_description, ' ', h('span', { class: 'muted mono small' }, '(' + s.cron + ')')),
			h('p', { class: 'muted small' }, 'When a run is still going at the next time: ',
				s.overlap === 'queue' ? 'the next one starts once it ends' : 'the next one is skipped'),
			s.window ? h('p', null, 'Dates: ', fmtWindow(s.window), ', resolved at each run in each instance\u2019s time zone') : null,
			h('p', { 'data-testid': 'schedule-policy' }, 'On failure: ', fmtPolicy(s.on_failure)),
			s.enabled ? [h('div', { class: 'muted small' }, 'Next runs (' + s.timezone + '):'),
				h('ol', { class: 'next-runs small', 'data-testid': 'schedule-next' }, s.next_runs.map((t) => h('li', null, fmtIn(t, s.timezone))))]
				: h('p', { class: 'muted' }, 'Paused: no run starts until it is resumed.')),
		editBox,
		h('section', { class: 'panel' }, h('h2', null, 'Runs'),
			runs.length ? runsTable(runs) : h('p', { class: 'muted' }, 'No run yet.')));
}

// app.js - the amcbatch web UI entry: sign-in with an API token (kept in local storage),
// hash routes (#/workflows, #/workflows/{id}, #/new-workflow, #/batches, #/batch/{id},
// #/schedules, #/schedules/{id}, #/webhooks, #/webhooks/{id}, #/fleet, #/admin/...) and the
// workflow and batch-history views; the header says who is signed in (GET /me) and shows the
// admin links to admins only. The batch modal, the batch page, the schedules, the webhooks,
// the fleet and the admin pages live in their own modules.
import { h, fill, badge, fmtTime, toast } from './dom.js';
import { get, token, setUnauthorizedHandler, ApiError } from './api.js';
import { openBatchModal } from './batchmodal.js';
import { renderBatch } from './monitor.js';
import { schedulesView, scheduleView } from './schedules.js';
import { workflowView, workflowEditView, workflowFormView } from './workflows.js';
import { webhooksView, deliveriesView } from './webhooks.js';
import { fleetView } from './fleet.js';
import { usersView, userView, accountsView, instancesView } from './admin.js';

const view = document.getElementById('view');
let me = null;		// GET /me of the token in use: who, role, field limits
let meFor = null;	// that token
let leave = null;	// cleanup of the current view (closes its event stream)
let signingIn = false;	// a 401 while checking a new token is the sign-in form's to report

setUnauthorizedHandler(() => {
	if (signingIn) return;
	token.clear();
	route();
});

document.getElementById('signout').addEventListener('click', () => {
	token.clear();
	location.hash = '#/workflows';
	route();
});

function signIn(message) {
	busy(false);
	document.getElementById('nav').hidden = true;
	document.getElementById('signout').hidden = true;
	fill(document.getElementById('who'));
	me = meFor = null;
	const input = h('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'off',
		placeholder: 'amcb_…', required: true, 'aria-label': 'API token' });
	const err = h('div', { class: 'form-error', role: 'alert' }, message || '');
	const btn = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
	fill(view, h('form', { class: 'panel signin', onsubmit: async (e) => {
		e.preventDefault();
		btn.disabled = true;
		signingIn = true;
		token.set(input.value.trim());
		try {
			await get('/me');
			signingIn = false;
			route();
		} catch (ex) {
			token.clear();
			err.textContent = ex.status === 401 ? 'That token is not valid.' : ex.message;
		} finally { btn.disabled = false; signingIn = false; }
	} }, h('h1', null, 'Sign in'),
	h('p', { class: 'muted' }, 'Paste your amcbatch API token. It stays in this browser until you sign out.'),
	h('div', { class: 'field' }, h('label', { for: 'token' }, 'API token'), input), err, btn));
	input.focus();
}

async function workflowsView(gen) {
	const { workflows } = await get('/workflows');
	if (stale(gen)) return;
	fill(view, h('div', { class: 'page-head' }, h('h1', null, 'Workflows'),
		h('a', { class: 'button primary', href: '#/new-workflow' }, 'New workflow')),
	h('table', { class: 'data', 'data-testid': 'workflows' },
		h('thead', null, h('tr', null, h('th', null, 'Name'), h('th', null, 'Description'), h('th', null, 'Created'), h('th', null, ''))),
		h('tbody', null, workflows.map((w) => h('tr', null,
			h('td', null, h('a', { href: '#/workflows/' + w.id }, w.name), ' ', h('span', { class: 'muted small' }, 'v' + w.version),
				w.shared_permission ? h('span', { class: 'tag', title: 'shared with you' }, 'shared') : null),
			h('td', { class: 'muted' }, w.description), h('td', null, fmtTime(w.created_at)),
			h('td', { class: 'right' }, w.shared_permission === 'read' ? null : h('button', { type: 'button', class: 'secondary', 'data-run': w.id,
				onclick: () => runBatch(w) }, 'Run batch'))))),
	), workflows.length === 0 ? h('p', { class: 'muted' }, 'No workflow yet.') : null);
}

function runBatch(w) {
	openBatchModal(w, (batch) => {
		toast('Batch ' + batch.batch_id + ' submitted');
		location.hash = '#/batch/' + batch.batch_id;
	}, (schedule) => {
		toast('Schedule created: ' + schedule.cron_description);
		location.hash = '#/schedules/' + schedule.id;
	}).catch((e) => toast(e.message, 'error'));
}

const STATUSES = ['', 'pending', 'running', 'completed', 'partial', 'failed', 'cancelled'];
const HIST_PAGE = 20;

async function historyView(q, gen) {
	const status = q.get('status') || '', wf = q.get('workflow') || '';
	const page = Math.max(0, parseInt(q.get('page') || '0', 10) || 0);
	const qs = new URLSearchParams({ limit: HIST_PAGE, offset: page * HIST_PAGE });
	if (status) qs.set('status', status);
	if (wf) qs.set('workflow_id', wf);
	const [{ batch_executions: rows, total }, { workflows }] = await Promise.all([
		get('/workflows/batch/list?' + qs), get('/workflows')]);
	if (stale(gen)) return;
	const go = (changes) => {
		const n = new URLSearchParams({ status, workflow: wf, page, ...changes });
		for (const [k, v] of [...n]) if (v === '' || (k === 'page' && v === '0')) n.delete(k);
		location.hash = '#/batches' + (n.toString() ? '?' + n : '');
	};
	const stSel = h('select', { 'aria-label': 'Status filter', 'data-testid': 'filter-status',
		onchange: () => go({ status: stSel.value, page: 0 }) },
	STATUSES.map((s) => h('option', { value: s, selected: s === status }, s || 'any status')));
	const wfSel = h('select', { 'aria-label': 'Workflow filter', 'data-testid': 'filter-workflow',
		onchange: () => go({ workflow: wfSel.value, page: 0 }) },
	h('option', { value: '' }, 'any workflow'),
	workflows.map((w) => h('option', { value: w.id, selected: w.id === wf }, w.name)));
	const pages = Math.max(1, Math.ceil(total / HIST_PAGE));
	fill(view, h('div', { class: 'page-head' }, h('h1', null, 'Batch history'),
		h('div', { class: 'inline' }, stSel, wfSel)),
	h('table', { class: 'data clickable', 'data-testid': 'history' },
		h('thead', null, h('tr', null, ['Batch', 'Workflow', 'Status', 'Instances', 'Created'].map((c) => h('th', null, c)))),
		h('tbody', null, rows.map((b) => h('tr', { tabindex: 0, 'data-batch': b.batch_id,
			onclick: () => { location.hash = '#/batch/' + b.batch_id; },
			onkeydown: (e) => { if (e.key === 'Enter') location.hash = '#/batch/' + b.batch_id; } },
		h('td', null, h('a', { href: '#/batch/' + b.batch_id }, b.name || b.batch_id), h('div', { class: 'muted small' }, b.batch_id,
			b.schedule_id ? [' \u00b7 ', h('a', { href: '#/schedules/' + b.schedule_id, onclick: (e) => e.stopPropagation() }, 'scheduled')] : null)),
		h('td', null, b.workflows ? b.workflows.name : ''), h('td', null, badge(b.status)),
		h('td', { class: 'num' }, b.completed_instances + ' / ' + b.total_instances +
			(b.failed_instances ? ' (' + b.failed_instances + ' failed)' : '')),
		h('td', null, fmtTime(b.created_at)))))),
	rows.length === 0 ? h('p', { class: 'muted' }, 'No batch matches.') : null,
	h('div', { class: 'pager' },
		h('button', { type: 'button', class: 'secondary', disabled: page === 0, onclick: () => go({ page: page - 1 }) }, '‹ Newer'),
		h('span', { class: 'muted' }, ' page ' + (page + 1) + ' of ' + pages + ' · ' + total + ' batches '),
		h('button', { type: 'button', class: 'secondary', disabled: page + 1 >= pages, onclick: () => go({ page: page + 1 }) }, 'Older ›')));
}

// Who is signed in, asked once per token: the header shows it on every page, and members
// see no admin links (the admin API would refuse them anyway: 403).
async function whoAmI() {
	const t = token.get();
	if (meFor !== t) {
		me = await get('/me');
		meFor = t;
	}
	const admin = me.user.role === 'admin';
	fill(document.getElementById('who'), 'Signed in as ', h('strong', null, me.user.email), ' ',
		h('span', { class: 'badge role-' + me.user.role, 'data-testid': 'role' }, me.user.role),
		admin ? null : h('span', { class: 'muted small' }, ' · ' + me.user.instance_count + ' instance' + (me.user.instance_count === 1 ? '' : 's')));
	for (const a of document.querySelectorAll('[data-admin]')) a.hidden = !admin;
	return me;
}

// Every navigation bumps routeGen. A view whose data arrives after the user moved on (a
// filter changed twice, a slow list) drops it instead of painting over the newer view.
let routeGen = 0;
const stale = (gen) => gen !== routeGen;

// While the next view loads, the previous one stays on screen (no blank flash) but inert:
// a click on its buttons would act on what the user just left (e.g. open the batch modal of
// the previous workflow).
function busy(on) {
	view.inert = on;
	if (on) view.setAttribute('aria-busy', 'true'); else view.removeAttribute('aria-busy');
}

async function route() {
	const gen = ++routeGen;
	if (leave) { leave(); leave = null; }
	if (!token.get()) { signIn(); return; }
	busy(true);
	document.getElementById('nav').hidden = false;
	document.getElementById('signout').hidden = false;
	const [path, query] = (location.hash.slice(1) || '/workflows').split('?');
	const parts = path.split('/').filter(Boolean);
	for (const a of document.querySelectorAll('[data-nav]'))
		a.classList.toggle('current', a.dataset.nav === (parts[0] === 'batch' ? 'batches' : parts[0]));
	try {
		await whoAmI();
		if (stale(gen)) return;
		if (parts[0] === 'workflows' && parts[1] && parts[2] === 'edit') await workflowEditView(view, parts[1], () => stale(gen));
		else if (parts[0] === 'workflows' && parts[1]) await workflowView(view, parts[1], () => stale(gen), runBatch);
		else if (parts[0] === 'new-workflow') workflowFormView(view, null);
		else if (parts[0] === 'batches') await historyView(new URLSearchParams(query || ''), gen);
		else if (parts[0] === 'batch' && parts[1]) leave = renderBatch(view, parts[1]);
		else if (parts[0] === 'schedules' && parts[1]) await scheduleView(view, parts[1], () => stale(gen));
		else if (parts[0] === 'schedules') await schedulesView(view, () => stale(gen));
		else if (parts[0] === 'webhooks' && parts[1]) await deliveriesView(view, parts[1], () => stale(gen));
		else if (parts[0] === 'webhooks') await webhooksView(view, () => stale(gen));
		else if (parts[0] === 'fleet') leave = fleetView(view);
		else if (parts[0] === 'admin' && parts[1] === 'users' && parts[2]) await userView(view, parts[2], me, () => stale(gen));
		else if (parts[0] === 'admin' && parts[1] === 'accounts') await accountsView(view, me, () => stale(gen));
		else if (parts[0] === 'admin' && parts[1] === 'instances') await instancesView(view, me, () => stale(gen));
		else if (parts[0] === 'admin') await usersView(view, me, () => stale(gen));
		else await workflowsView(gen);
	} catch (e) {
		if (e instanceof ApiError && e.status === 401) return;	// handler shows the sign-in
		if (stale(gen)) return;
		fill(view, h('div', { class: 'panel' }, h('h1', null, 'Something went wrong'),
			h('p', { class: 'error' }, e.message), h('a', { href: '#/workflows' }, 'Back to the workflows')));
	} finally {
		if (!stale(gen)) busy(false);
	}
}

window.addEventListener('hashchange', route);
route();

// batchtable.js - the instances of a batch as one compact table that stays usable at 100
// instances: status filter chips with counts, a search, sorting by status, name, duration or
// rows, failures first once the batch is finished, and a row that opens to the full error with
// the AMC execution id to copy.
import { h, fill, badge, fmtDuration, fmtTimeWindow, toast } from './dom.js';

// most in need of a look first
const STATUS_ORDER = ['failed', 'retry_wait', 'running', 'queued', 'pending', 'cancelled', 'completed'];
const SORTS = {
	status: (a, b) => STATUS_ORDER.indexOf(a.status) - STATUS_ORDER.indexOf(b.status),
	name: (a, b) => (a.instance_name || '').localeCompare(b.instance_name || ''),
	duration: (a, b) => (Number(b.duration_seconds) || 0) - (Number(a.duration_seconds) || 0),
	rows: (a, b) => (b.row_count ?? -1) - (a.row_count ?? -1),
};

// An error is shown while it explains the state: a failed or waiting instance. One that moved
// on (an old 429 on an instance now running or completed) is history, not news.
const liveError = (e) => (e.status === 'failed' || e.status === 'retry_wait' || e.status === 'cancelled') && e.error;

async function copy(text, what) {
	try { await navigator.clipboard.writeText(text); toast(what + ' copied'); } catch (err) { toast('Copy failed: ' + err.message, 'error'); }
}

// What an unfinished instance is waiting for, in words (the status's waiting_for when the
// server says, else its phase).
function ago(iso) {
	const s = (Date.now() - Date.parse(iso)) / 1000;
	if (!Number.isFinite(s) || s < 0) return '';
	return s < 90 ? Math.round(s) + ' s' : s < 5400 ? Math.round(s / 60) + ' min' : (s / 3600).toFixed(1) + ' h';
}

function waiting(e) {
	const w = e.waiting_for;
	if (w && w.code === 'retry')
		return 'retrying at ' + (w.at ? new Date(w.at).toLocaleTimeString() : 'once due') + (e.error ? ' after: ' + e.error.slice(0, 80) : '');
	// AMC's run and a PostgreSQL outage carry their own clock in the words ("AMC running for
	// 12 min, next poll in 20 s"): a second one since the claim would only contradict it
	const own = w && (w.code === 'amc_running' || w.pg_down_since);
	if (w && w.text) return w.text + (!own && w.at && ago(w.at) ? ' · ' + ago(w.at) : '');
	if (e.status === 'queued' || e.status === 'pending') return 'queued';
	if (e.status === 'running') return e.phase ? 'AMC: ' + e.phase : 'running';
	if (e.status === 'retry_wait') return 'waiting to retry';
	return '';
}

export function batchTable() {
	let execs = [], filter = '', sort = null, query = '', open = new Set(), finished = false;
	const chips = h('div', { class: 'chips', role: 'toolbar', 'aria-label': 'Filter by status', 'data-testid': 'status-chips' });
	const search = h('input', { type: 'search', placeholder: 'Find an instance', 'aria-label': 'Find an instance',
		'data-testid': 'instance-filter', oninput: () => { query = search.value.trim().toLowerCase(); paintRows(); } });
	const sortSel = h('select', { 'aria-label': 'Sort by', 'data-testid': 'instance-sort',
		onchange: () => { sort = sortSel.value; paintRows(); } },
	Object.keys(SORTS).map((k) => h('option', { value: k }, 'sort: ' + k)));
	const body = h('tbody');
	const shownCount = h('span', { class: 'muted small', 'data-testid': 'instances-shown' });
	const el = h('div', { class: 'batch-table' }, h('div', { class: 'row-between' }, chips, h('span', { class: 'inline' }, search, sortSel)),
		h('div', { class: 'scroll-x' }, h('table', { class: 'data compact', 'data-testid': 'instances' },
			h('thead', null, h('tr', null, ['Instance', 'Status', 'Waiting for', 'Duration', 'Rows', 'Days', 'Error']
				.map((c) => h('th', null, c)))), body)), shownCount);

	function paintChips() {
		const counts = {};
		for (const e of execs) counts[e.status] = (counts[e.status] || 0) + 1;
		const chip = (st, label, n) => h('button', { type: 'button', class: 'chip' + (filter === st ? ' on' : ''),
			'aria-pressed': filter === st ? 'true' : 'false', 'data-chip': st || 'all',
			onclick: () => { filter = filter === st ? '' : st; paintChips(); paintRows(); } }, label, ' ', h('strong', null, String(n)));
		fill(chips, chip('', 'all', execs.length),
			STATUS_ORDER.filter((s) => counts[s]).map((s) => chip(s, s.replace('_', ' '), counts[s])));
	}

	function row(e) {
		const err = liveError(e);
		const isOpen = open.has(e.execution_id);
		const toggle = () => { if (isOpen) open.delete(e.execution_id); else open.add(e.execution_id); paintRows(); };
		const main = h('tr', { class: 'st-' + e.status + (err ? ' has-error' : ''), 'data-exec': e.execution_id, tabindex: 0,
			'aria-expanded': isOpen ? 'true' : 'false', onclick: toggle, onkeydown: (ev) => { if (ev.key === 'Enter') toggle(); } },
		h('td', null, h('strong', null, e.instance_name || e.target_instance_id)),
		h('td', null, badge(e.status)),
		h('td', { class: 'small', 'data-testid': 'waiting-for' }, waiting(e)),
		h('td', { class: 'num' }, fmtDuration(e.duration_seconds)),
		h('td', { class: 'num' }, e.row_count ?? '–'),
		h('td', { class: 'small', 'data-testid': 'exec-window' }, e.time_window ? fmtTimeWindow(e.time_window) : '–'),
		h('td', { class: 'error small clip' }, err || ''));
		if (!isOpen) return [main];
		const detail = h('tr', { class: 'detail', 'data-detail': e.execution_id }, h('td', { colspan: 7 },
			h('dl', { class: 'kv' },
				h('dt', null, 'Execution'), h('dd', null, h('code', null, e.execution_id), ' ',
					h('button', { type: 'button', class: 'link small', onclick: () => copy(e.execution_id, 'Execution id') }, 'copy')),
				h('dt', null, 'AMC execution'), h('dd', null, e.amc_execution_id
					? [h('code', { 'data-testid': 'amc-execution-id' }, e.amc_execution_id), ' ',
						h('button', { type: 'button', class: 'link small', 'data-testid': 'copy-amc-id',
							onclick: () => copy(e.amc_execution_id, 'AMC execution id') }, 'copy')]
					: h('span', { class: 'muted' }, 'not created on AMC')),
				h('dt', null, 'Started'), h('dd', null, e.started_at || '–'),
				h('dt', null, 'Finished'), h('dd', null, e.completed_at || '–'),
				err ? h('dt', null, 'Error') : null,
				err ? h('dd', null, h('pre', { class: 'error full', 'data-testid': 'full-error' }, err), ' ',
					h('button', { type: 'button', class: 'link small', onclick: () => copy(err, 'Error') }, 'copy')) : null)));
		return [main, detail];
	}

	function paintRows() {
		let list = execs.filter((e) => (!filter || e.status === filter) &&
			(!query || (e.instance_name || '').toLowerCase().includes(query) || (e.target_instance_id || '').includes(query) ||
				(e.execution_id || '').includes(query)));
		// failures first on a finished batch until the user picks an order
		const by = sort || (finished ? 'status' : null);
		if (by) list = [...list].sort((a, b) => SORTS[by](a, b) || SORTS.name(a, b));
		fill(body, list.flatMap(row));
		if (list.length === 0) body.append(h('tr', null, h('td', { colspan: 7, class: 'muted' }, 'No instance matches.')));
		shownCount.textContent = list.length === execs.length ? execs.length + ' instances' : list.length + ' of ' + execs.length + ' instances';
		if (sort) sortSel.value = sort; else sortSel.value = by || 'status';
	}

	el.update = (s, isFinished) => {
		execs = s.executions || [];
		finished = isFinished;
		paintChips();
		paintRows();
	};
	return el;
}

// monitor.js - one batch: live progress (Server-Sent Events, polling every 3 s as fallback),
// the instances as a filterable table (batchtable.js), cancel with confirmation, what the
// batch was asked to run with "Run again"; then the results: instance summary, server-paged
// table, SVG bar chart of a metric by instance, raw JSON, CSV download.
import { h, clear, fill, badge, fmtDuration, fmtTime, fmtNum, fmtWindow, toast, confirmDialog, fmtPolicy } from './dom.js';
import { get, post, download, token, ApiError } from './api.js';
import { batchTable } from './batchtable.js';
import { comparePane } from './compare.js';
import { openBatchModal } from './batchmodal.js';

const TERMINAL = ['completed', 'partial', 'failed', 'cancelled'];
const PAGE = 50;
const POLL_MS = 3000;

export function renderBatch(view, batchId) {
	let status = null, es = null, finalShown = false, currentTab = 'table', pollTimer = null, refreshing = false, again = false, resultsShown = false;
	const title = h('h1', null, batchId);
	const sub = h('p', { class: 'muted' });
	const bar = h('div', { class: 'bar-fill' });
	const barText = h('span', { class: 'bar-text', 'data-testid': 'progress-text' }, '0 %');
	const progress = h('div', { class: 'bar', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100,
		'aria-valuenow': 0, 'data-testid': 'progress' }, bar, barText);
	const table = batchTable();
	const live = h('span', { class: 'muted small' });
	const asked = h('section', { class: 'panel', hidden: true, 'data-testid': 'batch-request' });
	const cancelBtn = h('button', { type: 'button', class: 'danger', hidden: true, 'data-testid': 'cancel-batch',
		onclick: async () => {
			if (!await confirmDialog('Cancel this batch?',
				'Queued and running instance executions stop; finished ones keep their results.', 'Cancel batch')) return;
			cancelBtn.disabled = true;
			try {
				await post('/workflows/batch/' + batchId + '/cancel');
				toast('Batch cancelled');
			} catch (e) { toast(e.message, 'error'); }
			cancelBtn.disabled = false;
			refresh();
		} }, 'Cancel batch');
	// a finished batch with failures: run them again as a new batch (retry-failed), then show it
	const retryBtn = h('button', { type: 'button', class: 'secondary', hidden: true, 'data-testid': 'retry-failed',
		onclick: async () => {
			retryBtn.disabled = true;
			try {
				const res = await post('/workflows/batch/' + batchId + '/retry-failed', {});
				toast('Retrying as ' + res.batch.batch_id);
				location.hash = '#/batch/' + res.batch.batch_id;
			} catch (e) { toast(e.message, 'error'); retryBtn.disabled = false; }
		} });
	// with its retries: per instance the latest successful result (include_retries)
	let withRetries = false;
	const retriesBox = h('label', { class: 'small', hidden: true },
		h('input', { type: 'checkbox', 'data-testid': 'include-retries', onchange: (ev) => {
			withRetries = ev.target.checked;
			allRows = null;
			rawData = null;
			loadSummary().then(() => showTab(currentTab));
		} }), ' with its retries ', h('span', { class: 'muted', 'data-testid': 'retries' }));
	const results = h('section', { class: 'results', hidden: true });
	// "Run again": the batch modal of its workflow, filled in with what this batch asked for
	const againBtn = h('button', { type: 'button', class: 'secondary', hidden: true, 'data-testid': 'run-again',
		onclick: async () => {
			try {
				const { workflow } = await get('/workflows/' + request.workflow_id);
				await openBatchModal(workflow, (b) => { toast('Batch ' + b.batch_id + ' submitted'); location.hash = '#/batch/' + b.batch_id; },
					() => {}, request);
			} catch (e) { toast(e.message, 'error'); }
		} }, 'Run again');
	let request = null;	// GET /workflows/batch/{id}: what the batch was asked to run
	fill(view, h('div', { class: 'page-head' }, h('div', null, title, sub), h('div', null, againBtn, ' ', retryBtn, ' ', cancelBtn)),
		h('section', { class: 'panel' }, h('div', { class: 'row-between' }, h('h2', null, 'Progress'), live),
			progress, table),
		asked, results);

	function showRequest(b) {
		request = b;
		againBtn.hidden = false;
		const params = Object.entries(b.parameters || {});
		const over = Object.entries(b.instance_parameters || {});
		const names = new Map(((status && status.executions) || []).map((e) => [e.target_instance_id, e.instance_name]));
		fill(asked, h('h2', null, 'What it ran'),
			h('p', null, h('a', { href: '#/workflows/' + b.workflow_id }, b.workflow_name),
				b.workflow_version ? h('span', { class: 'tag', 'data-testid': 'workflow-version' }, 'v' + b.workflow_version) : null,
				b.workflow_version && b.workflow_current_version !== b.workflow_version
					? h('span', { class: 'muted small' }, ' (the workflow is now at v' + b.workflow_current_version + ')') : null,
				b.window ? ' · window: ' + fmtWindow(b.window) + ' (days per instance below)' : ''),
			h('table', { class: 'data' }, h('tbody', null,
				params.length ? params.map(([k, v]) => h('tr', null, h('th', null, h('code', null, k)), h('td', null, h('code', null, JSON.stringify(v)))))
					: h('tr', null, h('td', { class: 'muted' }, 'No shared parameters.')))),
			over.length ? h('div', null, h('h3', null, 'Per-instance overrides'), h('table', { class: 'data', 'data-testid': 'batch-overrides' },
				h('tbody', null, over.flatMap(([id, o]) => Object.entries(o).map(([k, v]) =>
					h('tr', null, h('td', null, names.get(id) || id), h('th', null, h('code', null, k)), h('td', null, h('code', null, JSON.stringify(v))))))))) : null,
			h('details', null, h('summary', null, 'SQL as submitted'), h('pre', { class: 'sql' }, b.sql_query || '')));
		asked.hidden = false;
	}

	// Seconds until the last unfinished instance is expected to finish, from how long each took
	// to run this workflow before (GET /workflows/batch/{id}: expected_seconds), as if they all
	// run at once; null when no unfinished instance has a history.
	function eta(s) {
		const exp = request && request.expected_seconds;
		if (!exp || TERMINAL.includes(s.status)) return null;
		let left = null;
		for (const e of s.executions || []) {
			if (['completed', 'failed', 'cancelled'].includes(e.status) || !(e.target_instance_id in exp)) continue;
			const ran = e.status === 'running' && e.started_at ? (Date.now() - Date.parse(e.started_at)) / 1000 : 0;
			left = Math.max(left || 0, exp[e.target_instance_id] - ran, 1);
		}
		return left;
	}

	let gone = false;	// the batch is not there (404): nothing to follow
	function notFound() {
		gone = true;
		stopLive();
		fill(view, h('div', { class: 'panel', 'data-testid': 'batch-not-found' }, h('h1', null, 'Batch not found'),
			h('p', null, 'There is no batch ' + batchId + ' that you may see.'),
			h('a', { href: '#/batches' }, 'Back to the batch history')));
	}

	function paint(s) {
		status = s;
		title.textContent = s.name || s.batch_id;
		clear(sub).append(badge(s.status), ' ', s.batch_id, ' · started ', fmtTime(s.started_at),
			s.completed_at ? ' · finished ' + fmtTime(s.completed_at) : '',
			s.window ? h('span', { 'data-testid': 'batch-window' }, ' · window: ' + fmtWindow(s.window)) : '',
			s.parent_batch_id ? h('span', { 'data-testid': 'retry-of' }, ' · retry of ',
				h('a', { href: '#/batch/' + s.parent_batch_id }, s.parent_batch_id)) : '',
			h('span', { 'data-testid': 'batch-policy' }, ' · on failure: ' + fmtPolicy(s.on_failure)),
			s.status_reason ? h('div', { class: 'status-reason', 'data-testid': 'status-reason' },
				'Why ' + s.status + ': ' + s.status_reason) : '');
		s.eta_seconds = eta(s);
		const total = s.total_instances || 0;
		const ok = s.completed_instances || 0, failed = s.failed_instances || 0, cancelled = s.cancelled_instances || 0;
		const done = ok + failed + cancelled;
		const pct = total ? Math.round(done * 100 / total) : 0;
		bar.style.width = pct + '%';
		bar.className = 'bar-fill st-' + s.status;
		// a cancelled batch did not finish its work: say what became of it, not "100 %"
		barText.textContent = s.status === 'cancelled'
			? 'cancelled · ' + ok + ' completed, ' + failed + ' failed, ' + cancelled + ' cancelled of ' + total
			: pct + ' % · ' + done + ' / ' + total + ' finished' + (s.eta_seconds ? ' · about ' + fmtDuration(s.eta_seconds) + ' left (from earlier runs)' : '');
		progress.setAttribute('aria-valuenow', pct);
		progress.dataset.pct = pct;
		const terminal = TERMINAL.includes(s.status);
		table.update(s, terminal);
		cancelBtn.hidden = terminal;
		retryBtn.hidden = !terminal || !(s.failed_instances > 0);
		retryBtn.textContent = 'Re-run failed (' + (s.failed_instances || 0) + ')';
		if (terminal) stopLive();
		if ((s.completed_instances > 0 || terminal) && !resultsShown) {
			resultsShown = true;
			finalShown = terminal;
			showResults();
		} else if (terminal && resultsShown && !finalShown) {
			finalShown = true;	/* results shown early: reload them once complete */
			rawData = null;
			loadSummary().then(() => showTab(currentTab));
		}
	}

	async function refresh() {
		if (refreshing) { again = true; return; }
		refreshing = true;
		try {
			paint((await get('/workflows/batch/' + batchId + '/status')).batch_status);
			if (!request) get('/workflows/batch/' + batchId).then((r) => showRequest(r.batch)).catch(() => {});
		} catch (e) {
			// an unknown batch, or another user's (the API answers both alike): no 0 % page
			// polling for ever
			if (e instanceof ApiError && e.status === 404) { notFound(); return; }
			live.textContent = 'status: ' + e.message;
		} finally {
			refreshing = false;
			if (again) { again = false; refresh(); }
		}
	}

	function stopLive() {
		if (es) { es.close(); es = null; }
		clearInterval(pollTimer);
		pollTimer = null;
		live.textContent = status && TERMINAL.includes(status.status) ? 'finished' : '';
	}

	function startPolling() {
		if (pollTimer) return;
		live.textContent = 'updating every 3 s';
		pollTimer = setInterval(refresh, POLL_MS);
	}

	function startLive() {
		if (!window.EventSource) { startPolling(); return; }
		es = new EventSource('/workflows/batch/' + batchId + '/events?token=' + encodeURIComponent(token.get()));
		live.textContent = 'live';
		es.addEventListener('status', (ev) => paint(JSON.parse(ev.data)));
		// counters changed: paint the bar at once, then fetch the cards
		es.addEventListener('progress', (ev) => {
			const p = JSON.parse(ev.data);
			if (status) paint({ ...status, status: p.status, completed_instances: p.completed,
				failed_instances: p.failed, cancelled_instances: p.cancelled });
			refresh();
		});
		es.addEventListener('end', () => { stopLive(); refresh(); });
		es.onerror = () => {
			if (!es || es.readyState === EventSource.CLOSED) {
				if (es) es.close();
				es = null;
				if (!status || !TERMINAL.includes(status.status)) startPolling();
			}
		};
	}

	// ---- results
	let tableOffset = 0, lastResults = null, rawData = null;
	// (the instances themselves are the progress table's: the results start at their rows)
	const tabs = ['table', 'chart', 'compare', 'raw'];
	let compare = null;	// the Compare pane, made once the columns are known
	const missing = h('div', { class: 'missing', hidden: true, 'data-testid': 'missing-instances' });
	const panes = {};
	const tabBtns = {};

	function showTab(name) {
		currentTab = name;
		for (const t of tabs) {
			panes[t].hidden = t !== name;
			tabBtns[t].setAttribute('aria-selected', t === name ? 'true' : 'false');
		}
		if (name === 'table') loadTable(tableOffset);
		if (name === 'chart') drawChart();
		if (name === 'raw') showRaw();
		if (name === 'compare') showCompare();
	}

	async function showResults() {
		results.hidden = false;
		for (const t of tabs) panes[t] = h('div', { class: 'pane', 'data-pane': t, role: 'tabpanel', hidden: true });
		const tabBar = h('div', { class: 'tabs', role: 'tablist' }, ...tabs.map((t) =>
			(tabBtns[t] = h('button', { type: 'button', role: 'tab', 'data-tab': t, onclick: () => showTab(t) },
				{ table: 'Table', chart: 'Chart', compare: 'Compare', raw: 'Raw JSON' }[t]))));
		const csv = h('button', { type: 'button', class: 'secondary', 'data-testid': 'download-csv', onclick: async () => {
			csv.disabled = true;
			try { toast('Downloaded ' + await download('/workflows/batch/' + batchId + '/results.csv' +
				(withRetries ? '?include_retries=true' : ''), batchId + '.csv')); }
			catch (e) { toast(e.message, 'error'); }
			csv.disabled = false;
		} }, 'Download CSV');
		fill(results, h('div', { class: 'row-between' }, h('h2', null, 'Results'), h('span', null, retriesBox, ' ', csv)), missing, tabBar,
			...tabs.map((t) => panes[t]));
		await loadSummary();
		showTab('table');
	}

	async function fetchResults(offset, limit) {
		const r = await get('/workflows/batch/' + batchId + '/results?limit=' + limit + '&offset=' + offset +
			(withRetries ? '&include_retries=true' : ''));
		const retries = r.batch_results.retries || [];
		retriesBox.hidden = retries.length === 0;
		clear(retriesBox.lastChild).append('(', ...retries.flatMap((id, i) =>
			[i ? ', ' : '', h('a', { href: '#/batch/' + id }, id)]), ')');
		return r.batch_results;
	}

	// Which instances the rows leave out, and why: every view of a partial batch says so
	// (the table, the chart and the raw JSON all sit under this notice).
	async function loadSummary() {
		try { lastResults = await fetchResults(0, PAGE); } catch (e) { missing.hidden = false; missing.textContent = e.message; return; }
		const left = (lastResults.instance_results || []).filter((r) => r.status !== 'completed');
		const empty = (lastResults.instance_results || []).filter((r) => r.status === 'completed' && Number(r.row_count) === 0);
		missing.hidden = left.length === 0 && empty.length === 0;
		fill(missing, left.length ? h('p', null, h('strong', null, 'Missing from these results: ' + left.length + ' of ' +
			lastResults.instance_results.length + ' instances'), ' (their rows are not in the table, chart or CSV)') : null,
		left.length ? h('ul', null, left.map((r) => h('li', { 'data-missing': r.instance_name }, r.instance_name, ' · ', badge(r.status),
			r.error ? h('span', { class: 'error small' }, ' ' + r.error) : ''))) : null,
		empty.length ? h('p', { class: 'warn', 'data-testid': 'empty-instances' }, 'No rows from ' + empty.map((r) => r.instance_name).join(', ') +
			' (the query matched nothing, or AMC filtered the output for privacy)') : null);
	}

	// The table pages on the server; a click on a column sorts by it. Up to 10,000 rows (one
	// request) are then sorted whole, in the browser; a larger result sorts within its page
	// and says so.
	let sortBy = null, sortDesc = false, allRows = null;
	const SORT_ALL_MAX = 10000;

	async function loadTable(offset) {
		let r;
		try {
			r = await fetchResults(sortBy && allRows ? 0 : offset, sortBy && allRows ? 0 : PAGE);
		} catch (e) { panes.table.textContent = e.message; return; }
		tableOffset = offset;
		rawData = r;
		const agg = r.aggregated_data;
		const cols = agg.columns.map((c) => c.name);
		const total = agg.total_rows;
		let rows = agg.rows;
		if (sortBy) {
			if (!allRows && total <= SORT_ALL_MAX) {
				try { allRows = (await fetchResults(0, SORT_ALL_MAX)).aggregated_data.rows; } catch (e) { allRows = null; }
			}
			const cmp = (a, b) => {
				const x = a[sortBy], y = b[sortBy];
				if (x === y) return 0;
				if (x === null || x === undefined) return 1;	// empty values last either way
				if (y === null || y === undefined) return -1;
				const d = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
				return sortDesc ? -d : d;
			};
			rows = allRows ? [...allRows].sort(cmp).slice(offset, offset + PAGE) : [...rows].sort(cmp);
		}
		// one number of decimals per column (1,035.00 under 1,018.51, not 1,035)
		const digits = {};
		for (const c of cols) digits[c] = Math.min(4, Math.max(0, ...rows.map((x) =>
			typeof x[c] === 'number' && !Number.isInteger(x[c]) ? (String(x[c]).split('.')[1] || '').length : 0)));
		const fmtCell = (v, d) => (typeof v === 'number'
			? v.toLocaleString(undefined, { minimumFractionDigits: d, maximumFractionDigits: d }) : fmtNum(v));
		const prev = h('button', { type: 'button', class: 'secondary', disabled: offset === 0,
			onclick: () => loadTable(Math.max(0, offset - PAGE)) }, '‹ Previous');
		const next = h('button', { type: 'button', class: 'secondary', disabled: offset + PAGE >= total,
			'data-testid': 'table-next', onclick: () => loadTable(offset + PAGE) }, 'Next ›');
		const head = (c) => h('th', { class: (c.type === 'number' ? 'num ' : '') + 'sortable', 'data-col': c.name,
			'aria-sort': sortBy === c.name ? (sortDesc ? 'descending' : 'ascending') : 'none',
			onclick: () => { sortDesc = sortBy === c.name ? !sortDesc : c.type === 'number'; sortBy = c.name; loadTable(0); } },
		c.name, sortBy === c.name ? (sortDesc ? ' ▾' : ' ▴') : '');
		clear(panes.table).append(
			h('div', { class: 'row-between' }, h('span', { class: 'muted', 'data-testid': 'table-range' },
				total ? 'rows ' + (offset + 1) + '–' + Math.min(total, offset + PAGE) + ' of ' + total : 'no rows',
				sortBy ? (allRows ? ' · sorted by ' + sortBy : ' · sorted by ' + sortBy + ' within this page') : ''),
			h('span', null, prev, ' ', next)),
			h('div', { class: 'scroll-x' }, h('table', { class: 'data', 'data-testid': 'results-table' },
				h('thead', null, h('tr', null, agg.columns.map(head))),
				h('tbody', null, rows.map((row) => h('tr', null, cols.map((c) =>
					h('td', { class: typeof row[c] === 'number' ? 'num' : '' }, fmtCell(row[c], digits[c])))))))));
	}

	// The chart sums the chosen numeric column per instance over all rows (read in pages of
	// up to 10,000, as the API allows).
	async function drawChart(metric) {
		clear(panes.chart).append(h('p', { class: 'muted' }, 'Loading…'));
		let rows = [], cols = [], total = 0;
		try {
			for (let off = 0; off === 0 || (off < total && off < 50000); off += 10000) {
				const r = await fetchResults(off, 10000);
				cols = r.aggregated_data.columns;
				total = r.aggregated_data.total_rows;
				rows = rows.concat(r.aggregated_data.rows);
				if (r.aggregated_data.rows.length === 0) break;
			}
		} catch (e) { panes.chart.textContent = e.message; return; }
		const numeric = cols.filter((c) => !c.name.startsWith('_') && rows.some((r) => typeof r[c.name] === 'number'))
			.map((c) => c.name);
		if (numeric.length === 0) { clear(panes.chart).append(h('p', { class: 'muted' }, 'No numeric column to chart.')); return; }
		metric = numeric.includes(metric) ? metric : numeric[0];
		const sums = new Map();
		for (const r of rows) sums.set(r._instance_name, (sums.get(r._instance_name) || 0) + (Number(r[metric]) || 0));
		const data = [...sums.entries()];
		const max = Math.max(1, ...data.map(([, v]) => Math.abs(v)));
		const W = 720, L = 200, RH = 30, Ht = data.length * RH + 30;
		const svg = h('svg:svg', { viewBox: '0 0 ' + W + ' ' + Ht, class: 'chart', role: 'img',
			'aria-label': 'Sum of ' + metric + ' by instance', 'data-testid': 'chart' });
		data.forEach(([name, v], i) => {
			const y = i * RH + 10, w = Math.max(1, (W - L - 90) * Math.abs(v) / max);
			svg.append(h('svg:text', { x: L - 8, y: y + 16, 'text-anchor': 'end', class: 'chart-label' }, name),
				h('svg:rect', { x: L, y, width: w, height: RH - 8, rx: 3, class: 'chart-bar' },
					h('svg:title', null, name + ': ' + fmtNum(v))),
				h('svg:text', { x: L + w + 6, y: y + 16, class: 'chart-value' }, fmtNum(v)));
		});
		const pick = h('select', { 'aria-label': 'Metric', onchange: () => drawChart(pick.value) },
			numeric.map((n) => h('option', { value: n, selected: n === metric }, n)));
		clear(panes.chart).append(h('div', { class: 'inline' }, h('label', null, 'Metric (sum by instance) '), pick,
			rows.length < total ? h('span', { class: 'muted small' }, ' first ' + rows.length + ' of ' + total + ' rows') : null),
			svg);
	}

	function showCompare() {
		if (!lastResults || !status) return;
		if (!compare) {
			compare = comparePane(batchId, status.workflow_id, lastResults.aggregated_data.columns, () => withRetries);
			fill(panes.compare, compare);
		}
		compare.load();
	}

	async function showRaw() {
		let r = rawData;
		if (!r) {
			try { r = await fetchResults(tableOffset, PAGE); } catch (e) { panes.raw.textContent = e.message; return; }
		}
		clear(panes.raw).append(h('p', { class: 'muted small' }, 'GET /workflows/batch/' + batchId +
			'/results?limit=' + PAGE + '&offset=' + tableOffset),
		h('pre', { class: 'raw', 'data-testid': 'raw-json' }, JSON.stringify({ batch_results: r }, null, 2)));
	}

	refresh().then(() => { if (!gone && (!status || !TERMINAL.includes(status.status))) startLive(); });
	return () => stopLive();	// called when the view is left
}

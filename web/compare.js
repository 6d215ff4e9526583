// compare.js - the batch page's Compare tab: one metric across the instances (GET
// /workflows/batch/{id}/compare) as a ranked table with shares, outliers flagged, optionally by
// a dimension and against another batch of the same workflow (a schedule's previous run: this
// week against last week), with a bar chart; the instances left out are named with why.
import { h, fill, fmtNum } from './dom.js';
import { get } from './api.js';

const pct = (x) => (x === null || x === undefined ? '–' : (x * 100).toFixed(1) + ' %');
const signed = (x) => (x === null || x === undefined ? '–' : (x > 0 ? '+' : '') + fmtNum(Math.round(x * 100) / 100));

function table(items, withPrev) {
	return h('table', { class: 'data compact', 'data-testid': 'compare-table' },
		h('thead', null, h('tr', null, ['#', 'Instance', 'Value', 'Share', ...(withPrev ? ['Previous', 'Change'] : []), '']
			.map((c) => h('th', null, c)))),
		h('tbody', null, [...items].sort((a, b) => (a.rank || 1e9) - (b.rank || 1e9)).map((i) =>
			h('tr', { 'data-instance': i.instance_name, class: i.outlier ? 'outlier-' + i.outlier : '' },
				h('td', { class: 'num' }, i.rank ?? '–'), h('td', null, i.instance_name),
				h('td', { class: 'num' }, i.value === null ? '–' : fmtNum(i.value)),
				h('td', null, h('div', { class: 'share' }, h('div', { class: 'share-fill', style: { width: ((i.share || 0) * 100) + '%' } }),
					h('span', null, pct(i.share)))),
				withPrev ? h('td', { class: 'num' }, i.previous === null ? '–' : fmtNum(i.previous)) : null,
				withPrev ? h('td', { class: 'num' }, signed(i.change), i.change_ratio !== null && i.change_ratio !== undefined
					? h('span', { class: 'muted small' }, ' (' + (i.change_ratio > 0 ? '+' : '') + pct(i.change_ratio) + ')') : '') : null,
				h('td', null, i.outlier ? h('span', { class: 'tag outlier', 'data-outlier': i.outlier,
					title: 'beyond 1.5 interquartile ranges of the quartiles' }, i.outlier === 'high' ? 'unusually high' : 'unusually low') : null)))));
}

function chart(items) {
	const data = items.filter((i) => i.value !== null).sort((a, b) => a.rank - b.rank);
	const max = Math.max(1, ...data.map((i) => Math.abs(i.value)));
	const W = 720, L = 220, RH = 22, Ht = data.length * RH + 10;
	const svg = h('svg:svg', { viewBox: '0 0 ' + W + ' ' + Ht, class: 'chart', role: 'img', 'data-testid': 'compare-chart' });
	data.forEach((i, k) => {
		const y = k * RH + 5, w = Math.max(1, (W - L - 90) * Math.abs(i.value) / max);
		svg.append(h('svg:text', { x: L - 8, y: y + 13, 'text-anchor': 'end', class: 'chart-label' }, i.instance_name),
			h('svg:rect', { x: L, y, width: w, height: RH - 6, rx: 3, class: 'chart-bar' + (i.outlier ? ' outlier' : '') },
				h('svg:title', null, i.instance_name + ': ' + fmtNum(i.value) + ' (' + pct(i.share) + ')')),
			h('svg:text', { x: L + w + 6, y: y + 13, class: 'chart-value' }, fmtNum(i.value)));
	});
	return svg;
}

// The pane; columns are the batch's result columns ({name, type}), workflowId its workflow.
export function comparePane(batchId, workflowId, columns, withRetries) {
	const numeric = columns.filter((c) => c.type === 'number' && !c.name.startsWith('_')).map((c) => c.name);
	const dims = columns.filter((c) => c.type !== 'number' && !c.name.startsWith('_')).map((c) => c.name);
	const metric = h('select', { 'aria-label': 'Metric', 'data-testid': 'compare-metric', onchange: load },
		numeric.map((n) => h('option', { value: n }, n)));
	const by = h('select', { 'aria-label': 'Break down by', 'data-testid': 'compare-by', onchange: load },
		h('option', { value: '' }, 'all rows'), dims.map((n) => h('option', { value: n }, 'by ' + n)));
	const against = h('select', { 'aria-label': 'Against', 'data-testid': 'compare-against', onchange: load },
		h('option', { value: '' }, 'no other batch'));
	const out = h('div');
	const el = h('div', null, h('div', { class: 'inline' }, h('label', null, 'Metric (sum per instance) '), metric, ' ', by, ' against ', against), out);
	// the other batches of the workflow, newest first: a schedule's earlier runs among them
	get('/workflows/batch/list?limit=20&workflow_id=' + encodeURIComponent(workflowId)).then((r) => {
		for (const b of r.batch_executions) if (b.batch_id !== batchId)
			against.append(h('option', { value: b.batch_id }, (b.name || b.batch_id) + ' · ' + b.created_at.slice(0, 10)));
	}).catch(() => {});

	async function load() {
		if (!numeric.length) { fill(out, h('p', { class: 'muted' }, 'No numeric column to compare.')); return; }
		fill(out, h('p', { class: 'muted' }, 'Loading…'));
		const q = new URLSearchParams({ metric: metric.value });
		if (by.value) q.set('by', by.value);
		if (against.value) q.set('against', against.value);
		if (withRetries()) q.set('include_retries', 'true');
		let c;
		try { c = (await get('/workflows/batch/' + batchId + '/compare?' + q)).compare; } catch (e) { fill(out, h('p', { class: 'error' }, e.message)); return; }
		const withPrev = !!c.against;
		const outliers = c.instances.filter((i) => i.outlier);
		fill(out,
			h('p', { class: 'muted small', 'data-testid': 'compare-stats' }, 'total ' + fmtNum(c.stats.total) + ' over ' + c.stats.counted +
				' instances · median ' + fmtNum(c.stats.median) + ' · outliers beyond ' + fmtNum(c.stats.low_fence) + ' – ' + fmtNum(c.stats.high_fence) +
				(outliers.length ? ' · ' + outliers.length + ' flagged' : ' · none flagged')),
			c.missing_instances.length ? h('p', { class: 'warn', 'data-testid': 'compare-missing' }, 'Not in these numbers: ',
				c.missing_instances.map((m) => m.instance_name + ' (' + m.status + ')').join(', ')) : null,
			chart(c.instances), table(c.instances, withPrev),
			c.groups ? h('div', { 'data-testid': 'compare-groups' }, c.groups.map((g) => h('details', null,
				h('summary', null, by.value + ' = ' + g.key + ' · total ' + fmtNum(g.total)), table(g.instances, false))),
			c.groups_truncated ? h('p', { class: 'muted small' }, 'the 50 largest groups') : null) : null);
	}
	el.load = load;
	return el;
}

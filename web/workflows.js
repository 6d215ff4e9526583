// workflows.js - a workflow's page (SQL, parameters, versions, sharing, edit, delete) and the
// form that creates or edits one: an SQL editor with line numbers and {{placeholder}}
// highlighting, and a row per parameter with its type and default.
import { h, fill, fmtTime, toast, confirmDialog } from './dom.js';
import { get, post, del, request, ApiError } from './api.js';

const TYPES = ['date', 'number', 'text', 'list'];
const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;

export function placeholders(sql) {
	return [...new Set([...sql.matchAll(PLACEHOLDER)].map((m) => m[1]))];
}

// The SQL as text nodes and <mark>s, never as HTML: the editor's highlight layer.
function highlighted(sql) {
	const out = [];
	let at = 0;
	for (const m of sql.matchAll(PLACEHOLDER)) {
		out.push(sql.slice(at, m.index), h('mark', { class: 'ph' }, m[0]));
		at = m.index + m[0].length;
	}
	out.push(sql.slice(at) + '\n');	// a last empty line keeps the layers the same height
	return out;
}

// A textarea over a highlight layer of the same text, with a line-number gutter; onInput(sql)
// after every change.
export function sqlEditor(value, onInput) {
	const ta = h('textarea', { name: 'sql_query', class: 'sql-input', spellcheck: false, required: true,
		'aria-label': 'SQL', 'data-testid': 'sql-editor', wrap: 'off' });
	ta.value = value;
	const layer = h('pre', { class: 'sql-layer', 'aria-hidden': 'true' });
	const gutter = h('div', { class: 'sql-gutter', 'aria-hidden': 'true' });
	function paint() {
		fill(layer, highlighted(ta.value));
		const n = ta.value.split('\n').length;
		if (gutter.childElementCount !== n) fill(gutter, Array.from({ length: n }, (_, i) => h('div', null, String(i + 1))));
	}
	ta.addEventListener('input', () => { paint(); onInput(ta.value); });
	ta.addEventListener('scroll', () => { layer.scrollTop = gutter.scrollTop = ta.scrollTop; layer.scrollLeft = ta.scrollLeft; });
	paint();
	const el = h('div', { class: 'sql-editor' }, gutter, h('div', { class: 'sql-stack' }, layer, ta));
	el.textarea = ta;
	return el;
}

// A default as the form shows it, and back.
const shown = (v) => (v === undefined || v === null ? '' : Array.isArray(v) ? v.join(', ') : String(v));
function parsed(text, type) {
	const s = text.trim();
	if (s === '') return undefined;
	if (type === 'number' || (!type && /^-?\d+(\.\d+)?$/.test(s))) return Number(s);
	if (type === 'list') return s.split(',').map((x) => x.trim()).filter((x) => x !== '')
		.map((x) => (/^-?\d+(\.\d+)?$/.test(x) ? Number(x) : x));
	return s;
}

// The new/edit form; w is the workflow to edit, or null for a new one.
export function workflowFormView(view, w) {
	const name = h('input', { type: 'text', name: 'name', required: true, maxlength: 200, value: w ? w.name : '' });
	const description = h('input', { type: 'text', name: 'description', maxlength: 2000, value: w ? w.description : '' });
	const defaults = { ...(w ? w.parameters : {}) };
	const types = { ...(w ? w.parameter_types : {}) };
	const rows = h('tbody');
	const err = h('div', { class: 'form-error', role: 'alert' });
	const box = (k, label, control) => h('div', { class: 'field', 'data-field': k }, h('label', null, label), control,
		h('div', { class: 'field-error' }));
	// a row per placeholder, and per default that is no placeholder (startDate/endDate set AMC's
	// window even when the SQL does not name them)
	function paintRows(sql) {
		const ph = placeholders(sql);
		const names = [...ph, ...Object.keys(defaults).filter((k) => !ph.includes(k))];
		fill(rows, names.map((k) => {
			const isPh = ph.includes(k);
			const type = h('select', { 'aria-label': 'Type of ' + k, 'data-param-type': k, disabled: !isPh,
				onchange: () => { if (type.value) types[k] = type.value; else delete types[k]; } },
			h('option', { value: '' }, isPh ? 'any' : '–'), TYPES.map((t) => h('option', { value: t, selected: types[k] === t }, t)));
			const def = h('input', { type: 'text', 'aria-label': 'Default of ' + k, 'data-param-default': k,
				value: shown(defaults[k]), placeholder: isPh ? 'no default' : '',
				oninput: () => { const v = parsed(def.value, types[k]); if (v === undefined) delete defaults[k]; else defaults[k] = v; } });
			return h('tr', { 'data-param': k }, h('th', null, h('code', null, k), isPh ? null : h('span', { class: 'muted small' }, ' (not in the SQL)')),
				h('td', null, type), h('td', null, def));
		}));
		if (!names.length) rows.append(h('tr', null, h('td', { class: 'muted', colspan: 3 }, 'No {{placeholder}} yet.')));
		for (const k of Object.keys(types)) if (!ph.includes(k)) delete types[k];
	}
	const editor = sqlEditor(w ? w.sql_query : '', paintRows);
	paintRows(w ? w.sql_query : '');
	const btn = h('button', { type: 'submit', class: 'primary', 'data-testid': 'workflow-save' }, w ? 'Save' : 'Create workflow');
	const form = h('form', { class: 'panel', novalidate: true, onsubmit: async (e) => {
		e.preventDefault();
		err.textContent = '';
		for (const b of form.querySelectorAll('.field')) { b.classList.remove('invalid'); b.querySelector('.field-error').textContent = ''; }
		// a default typed after its type changed: read every input again with its final type
		for (const def of rows.querySelectorAll('[data-param-default]')) {
			const k = def.dataset.paramDefault, v = parsed(def.value, types[k]);
			if (v === undefined) delete defaults[k]; else defaults[k] = v;
		}
		const body = { name: name.value, description: description.value, sql_query: editor.textarea.value,
			parameters: defaults, parameter_types: types };
		btn.disabled = true;
		try {
			const r = w ? await request('PATCH', '/workflows/' + w.id, { ...body, expected_version: w.version })
				: await post('/workflows', body);
			toast(w ? (r.workflow.version > w.version ? 'Saved as version ' + r.workflow.version : 'Saved') : 'Workflow created');
			location.hash = '#/workflows/' + r.workflow.id;
		} catch (ex) {
			const key = ex.field && ex.field.split('.')[0];
			const b = key && form.querySelector('[data-field="' + CSS.escape(key === 'parameter_types' ? 'parameters' : key) + '"]');
			if (b) { b.classList.add('invalid'); b.querySelector('.field-error').textContent = ex.message; } else err.textContent = ex.message;
		} finally { btn.disabled = false; }
	} }, box('name', 'Name', name), box('description', 'Description', description),
	box('sql_query', 'SQL (placeholders as {{name}})', editor),
	box('parameters', 'Parameters', h('table', { class: 'data params' },
		h('thead', null, h('tr', null, h('th', null, 'Name'), h('th', null, 'Type'), h('th', null, 'Default'))), rows)),
	err, h('div', { class: 'row-between' }, w ? h('a', { href: '#/workflows/' + w.id }, 'Cancel') : h('span'), btn));
	fill(view, h('h1', null, w ? 'Edit ' + w.name : 'New workflow'), form);
	name.focus();
}

function versionsPanel(w, versions) {
	const shownV = h('pre', { class: 'sql', 'data-testid': 'version-sql' });
	const show = (v) => { shownV.textContent = v.sql_query; };
	return h('section', { class: 'panel', 'data-testid': 'versions' }, h('h2', null, 'Versions'),
		h('table', { class: 'data clickable' }, h('thead', null, h('tr', null, ['Version', 'By', 'When', 'Batches'].map((c) => h('th', null, c)))),
			h('tbody', null, versions.map((v) => h('tr', { tabindex: 0, 'data-version': v.version, onclick: () => show(v),
				onkeydown: (e) => { if (e.key === 'Enter') show(v); } },
			h('td', null, 'v' + v.version, v.version === w.version ? h('span', { class: 'tag' }, 'current') : null),
			h('td', null, v.created_by_email || '–'), h('td', null, fmtTime(v.created_at)),
			h('td', { class: 'num' }, h('a', { href: '#/batches?workflow=' + w.id, onclick: (e) => e.stopPropagation() }, String(v.batches))))))),
		versions.length > 1 ? h('p', { class: 'muted small' }, 'Select a version to see the SQL it ran.') : null, shownV);
}

function sharesPanel(w, shares, again) {
	const user = h('input', { type: 'text', placeholder: 'e-mail or user id', 'aria-label': 'Share with', 'data-testid': 'share-user' });
	const perm = h('select', { 'aria-label': 'Permission', 'data-testid': 'share-permission' },
		h('option', { value: 'read' }, 'can read'), h('option', { value: 'run' }, 'can read and run'));
	const err = h('div', { class: 'form-error', role: 'alert' });
	return h('section', { class: 'panel', 'data-testid': 'shares' }, h('h2', null, 'Shared with'),
		shares.length === 0 ? h('p', { class: 'muted' }, 'Nobody.') : h('table', { class: 'data' }, h('tbody', null, shares.map((s) =>
			h('tr', { 'data-share': s.email }, h('td', null, s.email), h('td', null, s.permission === 'run' ? 'can read and run' : 'can read'),
				h('td', { class: 'right' }, h('button', { type: 'button', class: 'link small', onclick: async () => {
					try { await del('/workflows/' + w.id + '/shares/' + s.user_id); toast('No longer shared with ' + s.email); again(); } catch (e) { toast(e.message, 'error'); }
				} }, 'stop sharing')))))),
		h('form', { class: 'inline', onsubmit: async (e) => {
			e.preventDefault();
			err.textContent = '';
			try { await post('/workflows/' + w.id + '/shares', { user: user.value.trim(), permission: perm.value }); toast('Shared'); again(); } catch (ex) { err.textContent = ex.message; }
		} }, user, perm, h('button', { type: 'submit', class: 'secondary' }, 'Share')), err);
}

// The workflow's page; runBatch(w) opens the batch modal. isStale() says the user moved on.
export async function workflowView(view, id, isStale, runBatch) {
	const again = () => workflowView(view, id, isStale, runBatch);
	const base = '/workflows/' + encodeURIComponent(id);
	const { workflow: w } = await get(base);
	const owner = w.shared_permission === null;
	const [{ versions }, shares] = await Promise.all([get(base + '/versions'),
		owner ? get(base + '/shares').then((r) => r.shares) : Promise.resolve(null)]);
	if (isStale()) return;
	const types = w.parameter_types || {};
	const params = [...new Set([...placeholders(w.sql_query), ...Object.keys(w.parameters || {})])];
	const del = owner && !w.archived_at ? h('button', { type: 'button', class: 'secondary danger', 'data-testid': 'workflow-delete', onclick: async () => {
		if (!await confirmDialog('Delete ' + w.name + '?', 'Its batches keep their history; the workflow no longer runs or lists.', 'Delete')) return;
		try { await del(base); toast('Workflow deleted'); location.hash = '#/workflows'; } catch (e) { toast(e.message, 'error'); }
	} }, 'Delete') : null;
	fill(view, h('div', { class: 'page-head' }, h('div', null, h('h1', null, w.name, ' ', h('span', { class: 'tag' }, 'v' + w.version),
		w.archived_at ? h('span', { class: 'tag' }, 'deleted') : null,
		w.shared_permission ? h('span', { class: 'tag' }, 'shared with you: ' + (w.shared_permission === 'run' ? 'read and run' : 'read')) : null),
	h('p', { class: 'muted' }, w.description)),
	h('span', null, h('a', { class: 'button secondary', href: '#/batches?workflow=' + w.id }, 'Batches'), ' ',
		owner && !w.archived_at ? h('a', { class: 'button secondary', href: '#/workflows/' + w.id + '/edit', 'data-testid': 'workflow-edit' }, 'Edit') : null, ' ',
		del, ' ',
		w.archived_at || w.shared_permission === 'read' ? null
			: h('button', { type: 'button', class: 'primary', 'data-testid': 'run-batch', 'data-workflow': w.id, onclick: () => runBatch(w) }, 'Run batch'))),
	h('section', { class: 'panel' }, h('h2', null, 'SQL'), h('pre', { class: 'sql', 'data-testid': 'workflow-sql' }, highlighted(w.sql_query))),
	h('section', { class: 'panel' }, h('h2', null, 'Parameters'), params.length === 0
		? h('p', { class: 'muted' }, 'None.')
		: h('table', { class: 'data' }, h('thead', null, h('tr', null, h('th', null, 'Name'), h('th', null, 'Type'), h('th', null, 'Default'))),
			h('tbody', null, params.map((k) => h('tr', null, h('th', null, h('code', null, k)), h('td', null, types[k] || 'any'),
				h('td', null, k in (w.parameters || {}) ? h('code', null, JSON.stringify(w.parameters[k])) : h('span', { class: 'muted' }, 'none'))))))),
	versionsPanel(w, versions),
	shares ? sharesPanel(w, shares, again) : null);
}

export async function workflowEditView(view, id, isStale) {
	const { workflow: w } = await get('/workflows/' + encodeURIComponent(id));
	if (isStale()) return;
	if (w.shared_permission !== null || w.archived_at) throw new ApiError(403, 'workflow_read_only', 'Only the owner edits this workflow, and not once it is deleted.');
	workflowFormView(view, w);
}

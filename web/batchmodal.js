// batchmodal.js - BatchExecutionModal: name and description, the instance selector, the typed
// shared-parameter editor pre-filled from the workflow, per-instance overrides, API validation
// errors shown at the field they name, and a submit that cannot fire twice (button locked while
// in flight, one Idempotency-Key per logical submission).
import { h, clear } from './dom.js';
import { post, get, ApiError } from './api.js';
import { InstanceSelector } from './selector.js';
import { scheduleFields } from './schedules.js';

const DATE = /^\d{4}-\d{2}-\d{2}$/;

function typeOf(v) {
	if (typeof v === 'number') return 'number';
	if (typeof v === 'boolean') return 'boolean';
	if (Array.isArray(v)) return 'list';
	if (typeof v === 'string' && DATE.test(v)) return 'date';
	return 'text';
}

// An input for a value of the given type; .read() returns the typed value or throws.
function typedInput(type, value, attrs) {
	let el;
	if (type === 'boolean') {
		el = h('input', { type: 'checkbox', checked: !!value, ...attrs });
		el.read = () => el.checked;
		return el;
	}
	const shown = type === 'list' ? (value || []).join(', ') : value ?? '';
	el = h('input', {
		type: type === 'number' ? 'number' : type === 'date' ? 'date' : 'text',
		step: type === 'number' ? 'any' : undefined, value: shown,
		placeholder: type === 'list' ? 'a, b, c' : undefined, ...attrs,
	});
	el.read = () => {
		const s = el.value;
		if (type === 'number') {
			if (s.trim() === '' || !Number.isFinite(Number(s))) throw new Error('must be a number');
			return Number(s);
		}
		if (type === 'date') {
			if (!DATE.test(s)) throw new Error('must be a date (YYYY-MM-DD)');
			return s;
		}
		if (type === 'list') return s.split(',').map((x) => x.trim()).filter((x) => x !== '')
			.map((x) => (/^-?\d+(\.\d+)?$/.test(x) ? Number(x) : x));
		return s;
	};
	return el;
}

let errSeq = 0;

// A labelled control with its own error line; the control is aria-describedby that line so a
// screen reader reads the API's complaint with the input it concerns.
function fieldBox(field, label, control, hint) {
	const err = h('div', { class: 'field-error', role: 'alert', id: 'field-error-' + ++errSeq });
	control.setAttribute('aria-describedby', err.id);
	return h('div', { class: 'field', 'data-field': field },
		h('label', null, label, hint ? h('span', { class: 'muted small' }, ' ' + hint) : null), control, err);
}

// The box's own error line, not one of a nested box (parameters holds the parameter rows).
const ownError = (box) => box.querySelector(':scope > .field-error');

// onSubmitted(batch) after a batch starts; onScheduled(schedule) after "On a schedule" made one.
// prefill (optional): a batch's request as GET /workflows/batch/{id} gives it ("Run again"):
// its instances, parameters, overrides, window and policy fill the form.
export async function openBatchModal(workflow, onSubmitted, onScheduled, prefill) {
	const { instances } = await get('/instances');
	const again = prefill || {};
	const params = { ...(workflow.parameters || {}), ...(again.parameters || {}) };
	const paramRows = [];		// {key, type, input}
	const overrides = [];		// {inst, key, input, row}
	let idemKey = crypto.randomUUID();
	let busy = false;

	const dlg = h('dialog', { class: 'modal', 'aria-label': 'Run batch' });
	const formError = h('div', { class: 'form-error', role: 'alert' });
	const nameIn = h('input', { type: 'text', name: 'name', maxlength: 200,
		value: workflow.name + ' – ' + new Date().toISOString().slice(0, 16).replace('T', ' ') });
	const descIn = h('textarea', { name: 'description', rows: 2, maxlength: 2000 });
	const sel = new InstanceSelector(instances, () => refreshOverrideChoices());
	const paramBox = h('div', { class: 'params' });
	const overrideList = h('div', { class: 'overrides' });
	const ovInst = h('select', { 'aria-label': 'Instance for the override', 'data-testid': 'override-instance' });
	const ovKey = h('select', { 'aria-label': 'Parameter to override', 'data-testid': 'override-key' });
	const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'submit-batch' }, 'Run batch');
	const nameBox = fieldBox('name', 'Batch name', nameIn);
	const nameLabel = nameBox.querySelector('label');

	// a relative date window: the server resolves it in each instance's time zone and it
	// replaces the startDate/endDate parameters
	const WINDOW_TYPES = [['', 'Dates from the parameters'], ['previous_week', 'Previous week (Monday to Sunday)'],
		['previous_month', 'Previous month'], ['month_to_date', 'Month to date'],
		['last_n_days', 'Last N days'], ['last_n_full_weeks', 'Last N full weeks']];
	const WITH_N = ['last_n_days', 'last_n_full_weeks'];
	const winType = h('select', { name: 'window-type', 'data-testid': 'window-type' },
		WINDOW_TYPES.map(([v, t]) => h('option', { value: v }, t)));
	const winN = h('input', { type: 'number', name: 'window-n', min: 1, step: 1, value: 7, 'data-testid': 'window-n' });
	const winLag = h('input', { type: 'number', name: 'window-lag', min: 0, max: 30, step: 1,
		placeholder: 'server default', 'data-testid': 'window-lag' });
	const winNBox = fieldBox('window.n', 'N', winN);
	const winLagBox = fieldBox('window.lag_days', 'Lag days', winLag, 'days kept clear of today (AMC data arrives late)');
	function windowChanged() {
		const relative = winType.value !== '';
		winNBox.hidden = !WITH_N.includes(winType.value);
		winLagBox.hidden = !relative;
		for (const p of paramRows) if (p.key === 'startDate' || p.key === 'endDate') {
			p.input.disabled = relative;
			p.input.title = relative ? 'set by the date window' : '';
		}
	}
	winType.addEventListener('change', windowChanged);

	// run now, or on a schedule (a cron in a time zone): the same request either way
	const whenNow = h('input', { type: 'radio', name: 'when', value: 'now', checked: true, 'data-testid': 'when-now' });
	const whenSched = h('input', { type: 'radio', name: 'when', value: 'schedule', 'data-testid': 'when-schedule' });
	const sched = scheduleFields(fieldBox);
	const schedBox = h('div', { hidden: true }, sched.el);
	const scheduled = () => whenSched.checked;
	function whenChanged() {
		schedBox.hidden = !scheduled();
		submit.textContent = scheduled() ? 'Create schedule' : 'Run batch';
		nameLabel.textContent = scheduled() ? 'Schedule name' : 'Batch name';
		if (scheduled() && nameIn.value.startsWith(workflow.name + ' – ')) nameIn.value = workflow.name;
	}
	whenNow.addEventListener('change', whenChanged);
	whenSched.addEventListener('change', whenChanged);
	// the batch failure policy (on_failure): continue, stop at the first failure, or a
	// minimum share of instances that must complete
	const polSel = h('select', { name: 'on-failure', 'data-testid': 'on-failure' },
		h('option', { value: 'continue' }, 'Continue (run every instance to its end)'),
		h('option', { value: 'fail_fast' }, 'Stop at the first failure (cancel the rest)'),
		h('option', { value: 'min_success_ratio' }, 'Require N % success'));
	const polPct = h('input', { type: 'number', name: 'on-failure-percent', min: 1, max: 100, step: 'any', value: 90,
		'data-testid': 'on-failure-percent' });
	const polPctBox = fieldBox('on_failure.percent', 'N %', polPct, 'fewer completed: the batch is failed');
	function policyChanged() { polPctBox.hidden = polSel.value !== 'min_success_ratio'; }
	polSel.addEventListener('change', policyChanged);

	function addParamRow(key, value, type) {
		const input = typedInput(type, value, { name: 'param-' + key, 'aria-label': key });
		const row = fieldBox('parameters.' + key, key, input, type);
		row.append(h('button', { type: 'button', class: 'link small', onclick: () => {
			row.remove();
			paramRows.splice(paramRows.findIndex((p) => p.key === key), 1);
			refreshOverrideChoices();
		} }, 'remove'));
		paramRows.push({ key, type, input });
		paramBox.append(row);
	}
	// the workflow's declared types drive the inputs (parameter_types); an undeclared one is
	// guessed from its default. A declared parameter without a default still gets its row.
	const declared = workflow.parameter_types || {};
	for (const [k, v] of Object.entries(params)) addParamRow(k, v, declared[k] || typeOf(v));
	for (const [k, t] of Object.entries(declared)) if (!(k in params)) addParamRow(k, t === 'number' ? '' : t === 'list' ? [] : '', t);

	const newKey = h('input', { type: 'text', placeholder: 'name', 'aria-label': 'New parameter name' });
	const newType = h('select', { 'aria-label': 'New parameter type' },
		['text', 'number', 'date', 'list', 'boolean'].map((t) => h('option', { value: t }, t)));
	const addParam = h('button', { type: 'button', class: 'secondary', onclick: () => {
		const k = newKey.value.trim();
		if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) || paramRows.some((p) => p.key === k)) {
			newKey.setCustomValidity('a new identifier');
			newKey.reportValidity();
			return;
		}
		newKey.setCustomValidity('');
		addParamRow(k, newType.value === 'number' ? 0 : newType.value === 'list' ? [] : '', newType.value);
		newKey.value = '';
		refreshOverrideChoices();
	} }, 'Add parameter');

	function refreshOverrideChoices() {
		const keepI = ovInst.value, keepK = ovKey.value;
		clear(ovInst).append(...sel.value().map((id) =>
			h('option', { value: id }, sel.byId.get(id).instance_name)));
		clear(ovKey).append(...paramRows.map((p) => h('option', { value: p.key }, p.key)));
		if ([...ovInst.options].some((o) => o.value === keepI)) ovInst.value = keepI;
		if ([...ovKey.options].some((o) => o.value === keepK)) ovKey.value = keepK;
		// an override of an instance no longer selected would be rejected: drop it
		for (const o of [...overrides]) if (!sel.selected.has(o.inst)) removeOverride(o);
	}

	function removeOverride(o) {
		o.row.remove();
		overrides.splice(overrides.indexOf(o), 1);
	}

	const addOverride = h('button', { type: 'button', class: 'secondary', 'data-testid': 'add-override', onclick: () => {
		const inst = ovInst.value, key = ovKey.value;
		if (!inst || !key) return;
		if (overrides.some((o) => o.inst === inst && o.key === key)) return;
		const p = paramRows.find((r) => r.key === key);
		let cur;
		try { cur = p.input.read(); } catch (e) { cur = undefined; }
		addOverrideRow(inst, key, cur).focus();
	} }, 'Add override');

	// one override row of inst's key, starting at value; returns its input
	function addOverrideRow(inst, key, cur) {
		const p = paramRows.find((r) => r.key === key);
		const input = typedInput(p.type, cur, { 'aria-label': 'Override ' + key, 'data-testid': 'override-value' });
		const o = { inst, key, input };
		o.row = fieldBox('instance_parameters.' + inst + '.' + key,
			sel.byId.get(inst).instance_name + ' · ' + key, input, p.type);
		o.row.append(h('button', { type: 'button', class: 'link small', onclick: () => removeOverride(o) }, 'remove'));
		overrides.push(o);
		overrideList.append(o.row);
		return input;
	}

	function clearBox(e) {
		e.classList.remove('invalid');
		ownError(e).textContent = '';
		for (const i of e.querySelectorAll(':scope > [aria-invalid]')) i.removeAttribute('aria-invalid');
	}

	function clearErrors() {
		formError.textContent = '';
		for (const e of dlg.querySelectorAll('.field.invalid')) clearBox(e);
	}

	// editing a field answers its complaint: take the error off that field only
	dlg.addEventListener('input', (ev) => {
		const box = ev.target.closest && ev.target.closest('.field.invalid');
		if (box && ev.target.parentElement === box) clearBox(box);
	});

	// Parameter errors name the parameter ("parameters.startDate" or
	// "instance_parameters.<uuid>.endDate") and prefix the message with the instance
	// ("instance <uuid>: startDate must be ..."); next to the input the prefix is noise. A field
	// of just "parameters" (other parameter errors) is narrowed to the parameter the message
	// mentions first, and to that instance's override when it has one.
	function refineField(field, message) {
		const m = /^instance ([0-9a-fA-F-]{36}): (.*)$/s.exec(message);
		if (field !== 'parameters' && field !== 'instance_parameters') {
			const precise = field.startsWith('parameters.') || field.startsWith('instance_parameters.');
			return { field, message: m && precise ? m[2] : message };
		}
		const inst = m ? m[1].toLowerCase() : null;
		const text = m ? m[2] : message;
		let key = null, at = Infinity;
		for (const k of [...paramRows.map((p) => p.key), ...overrides.map((o) => o.key)]) {
			const hit = new RegExp('(^|[^A-Za-z0-9_])' + k + '(?![A-Za-z0-9_])').exec(text);
			if (hit && hit.index + hit[1].length < at) { key = k; at = hit.index + hit[1].length; }
		}
		if (key === null) return { field, message };
		const o = overrides.find((x) => x.inst.toLowerCase() === inst && x.key === key);
		if (o) return { field: 'instance_parameters.' + o.inst + '.' + key, message: text };
		if (paramRows.some((p) => p.key === key)) return { field: 'parameters.' + key, message: text };
		return { field, message };
	}

	// Marks the field box the error names (the longest data-field that is a prefix of it).
	function showError(field, message) {
		({ field, message } = refineField(field, message));
		let best = null;
		for (const box of dlg.querySelectorAll('[data-field]')) {
			const f = box.dataset.field;
			if (field === f || field.startsWith(f + '.') || field.startsWith(f + '['))
				if (!best || f.length > best.dataset.field.length) best = box;
		}
		if (!best) {
			formError.textContent = message;
			return;
		}
		best.classList.add('invalid');
		ownError(best).textContent = message;
		const control = best.querySelector(':scope > input, :scope > textarea');
		if (control) control.setAttribute('aria-invalid', 'true');
		best.scrollIntoView({ block: 'nearest' });
	}

	function collect() {
		const body = { instance_ids: sel.value(), parameters: {}, name: nameIn.value.trim() };
		if (descIn.value.trim()) body.description = descIn.value.trim();
		let ok = true;
		if (winType.value) {
			body.window = { type: winType.value };
			if (WITH_N.includes(winType.value)) {
				const n = Number(winN.value);
				if (!Number.isInteger(n) || n < 1) { showError('window.n', 'N must be a whole number of 1 or more'); ok = false; }
				body.window.n = n;
			}
			if (winLag.value.trim() !== '') {
				const lag = Number(winLag.value);
				if (!Number.isInteger(lag) || lag < 0) { showError('window.lag_days', 'lag days must be a whole number of 0 or more'); ok = false; }
				body.window.lag_days = lag;
			}
		}
		if (polSel.value === 'fail_fast') body.on_failure = 'fail_fast';
		else if (polSel.value === 'min_success_ratio') {
			const pct = Number(polPct.value);
			// the API takes a ratio with at most 4 decimals: 2 decimals of a percentage
			if (!(pct > 0 && pct <= 100) || Math.abs(pct * 100 - Math.round(pct * 100)) > 1e-6) {
				showError('on_failure.percent', 'N must be a percentage above 0 and at most 100, with at most 2 decimals');
				ok = false;
			}
			body.on_failure = { min_success_ratio: Math.round(pct * 100) / 10000 };
		}
		for (const p of paramRows) {
			if (body.window && (p.key === 'startDate' || p.key === 'endDate')) continue;	// the window sets them
			try { body.parameters[p.key] = p.input.read(); } catch (e) { showError('parameters.' + p.key, p.key + ' ' + e.message); ok = false; }
		}
		if (overrides.length) body.instance_parameters = {};
		for (const o of overrides) {
			const f = 'instance_parameters.' + o.inst + '.' + o.key;
			try {
				(body.instance_parameters[o.inst] ||= {})[o.key] = o.input.read();
			} catch (e) { showError(f, o.key + ' ' + e.message); ok = false; }
		}
		if (body.instance_ids.length === 0) { showError('instance_ids', 'select at least one instance'); ok = false; }
		return ok ? body : null;
	}

	async function onSubmit(e) {
		e.preventDefault();
		if (busy) return;
		clearErrors();
		const body = collect();
		if (!body) return;
		busy = true;
		submit.disabled = true;
		submit.textContent = 'Submitting…';
		try {
			if (scheduled()) {
				const res = await post('/schedules', { ...body, workflow_id: workflow.id, ...sched.value() });
				dlg.close();
				onScheduled(res.schedule);
				return;
			}
			const res = await post('/workflows/' + workflow.id + '/batch-execute', body, { 'Idempotency-Key': idemKey });
			dlg.close();
			onSubmitted(res.batch);
		} catch (err) {
			// a definite answer ends this submission; a network failure keeps its key so
			// a retry cannot start a second batch
			if (!(err instanceof ApiError) || err.status !== 0) idemKey = crypto.randomUUID();
			if (err.field) showError(err.field, err.message);
			else formError.textContent = err.message;
		} finally {
			busy = false;
			submit.disabled = false;
			submit.textContent = scheduled() ? 'Create schedule' : 'Run batch';
		}
	}

	dlg.append(h('form', { method: 'dialog', onsubmit: onSubmit, novalidate: true },
		h('header', { class: 'modal-head' }, h('h2', null, 'Run “' + workflow.name + '” on several instances'),
			h('button', { type: 'button', class: 'link', 'aria-label': 'Close', onclick: () => dlg.close() }, '✕')),
		h('div', { class: 'modal-body' },
			h('div', { class: 'grid2' },
				nameBox,
				fieldBox('description', 'Description', descIn, 'optional')),
			h('section', null, h('h3', null, 'When'),
				h('div', { class: 'inline', role: 'radiogroup', 'aria-label': 'When' },
					h('label', null, whenNow, ' Run now'), h('label', null, whenSched, ' On a schedule')),
				schedBox),
			h('section', null, h('h3', null, 'Instances'),
				fieldBox('instance_ids', 'Select the instances to run on', sel.el)),
			h('section', null, h('h3', null, 'Dates'),
				fieldBox('window', '', h('div', { class: 'grid2' },
					fieldBox('window.type', 'Date window', winType,
						'resolved when the batch starts, in each instance\u2019s time zone'),
					h('div', { class: 'inline' }, winNBox, winLagBox)))),
			h('section', null, h('h3', null, 'On failure'),
				fieldBox('on_failure', '', h('div', { class: 'grid2' },
					fieldBox('on_failure.policy', 'When an instance fails for good', polSel,
						'\u201cstop\u201d also cancels the running AMC executions'),
					h('div', { class: 'inline' }, polPctBox)))),
			h('section', null, h('h3', null, 'Shared parameters'),
				fieldBox('parameters', '', paramBox),
				h('div', { class: 'inline' }, newKey, newType, addParam)),
			h('section', null, h('h3', null, 'Per-instance overrides'),
				h('p', { class: 'muted small' }, 'An override replaces a shared parameter for one instance.'),
				fieldBox('instance_parameters', '', overrideList),
				h('div', { class: 'inline' }, ovInst, ovKey, addOverride)),
			formError),
		h('footer', { class: 'modal-foot' },
			h('button', { type: 'button', class: 'secondary', onclick: () => dlg.close() }, 'Cancel'), submit)));
	dlg.addEventListener('close', () => dlg.remove());
	if (prefill) {
		if (again.description) descIn.value = again.description;
		sel.setSelected(again.instance_ids || []);	// (also refreshes the override choices)
		for (const [inst, o] of Object.entries(again.instance_parameters || {}))
			for (const [k, v] of Object.entries(o))
				if (sel.selected.has(inst) && paramRows.some((r) => r.key === k)) addOverrideRow(inst, k, v);
		if (again.window && again.window.type) {
			winType.value = again.window.type;
			if (again.window.n) winN.value = again.window.n;
			if (again.window.lag_days !== undefined && again.window.lag_days !== null) winLag.value = again.window.lag_days;
		}
		if (again.on_failure === 'fail_fast') polSel.value = 'fail_fast';
		else if (again.on_failure && again.on_failure.min_success_ratio) {
			polSel.value = 'min_success_ratio';
			polPct.value = Math.round(again.on_failure.min_success_ratio * 10000) / 100;
		}
	}
	windowChanged();
	policyChanged();
	document.body.append(dlg);
	dlg.showModal();
	sel.paint(true);
	sel.search.focus();
	return dlg;
}

// dom.js - tiny DOM helpers shared by the views: element building (text only, never HTML
// strings, so API data cannot inject markup), formatting, a toast and a confirm dialog.

export function h(tag, attrs, ...children) {
	const el = tag.startsWith('svg:')
		? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4))
		: document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === undefined || v === null || v === false) continue;
		if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
		else if (k === 'class') el.setAttribute('class', v);
		else if (k === 'dataset') Object.assign(el.dataset, v);
		// through the CSSOM: the CSP (style-src 'self') refuses a style attribute
		else if (k === 'style') Object.assign(el.style, v);
		else if (k in el && !tag.startsWith('svg:') && typeof v !== 'string') el[k] = v;
		else el.setAttribute(k, v === true ? '' : String(v));
	}
	append(el, children);
	return el;
}

function append(el, children) {
	for (const c of children) {
		if (c === null || c === undefined || c === false) continue;
		if (Array.isArray(c)) append(el, c);
		else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
	}
}

export function clear(el) {
	while (el.firstChild) el.removeChild(el.firstChild);
	return el;
}

// Replaces el's children, skipping null/false/undefined as h() does: Element.append(null)
// would show the word "null" (it did, under the Workflows and History tables).
export function fill(el, ...children) {
	append(clear(el), children);
	return el;
}

export function debounce(fn, ms) {
	let t = null;
	return (...args) => {
		clearTimeout(t);
		t = setTimeout(() => fn(...args), ms);
	};
}

export function fmtDuration(s) {
	if (s === null || s === undefined || s === '') return '–';
	const n = Number(s);
	if (!Number.isFinite(n)) return '–';
	if (n < 60) return n.toFixed(n < 10 ? 1 : 0) + ' s';
	const m = Math.floor(n / 60);
	return m + ' min ' + Math.round(n - m * 60) + ' s';
}

export function fmtTime(iso) {
	if (!iso) return '–';
	const d = new Date(iso);
	return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export function fmtNum(v) {
	if (typeof v === 'number') return v.toLocaleString(undefined, { maximumFractionDigits: 4 });
	return v === null || v === undefined ? '' : String(v);
}

export function badge(status) {
	return h('span', { class: 'badge st-' + status }, status.replace('_', ' '));
}

let toastTimer = null;
export function toast(msg, kind) {
	const el = document.getElementById('toast');
	el.textContent = msg;
	el.className = kind || '';
	el.hidden = false;
	clearTimeout(toastTimer);
	toastTimer = setTimeout(() => { el.hidden = true; }, 4000);
}

// A modal yes/no question on a <dialog>; resolves true only on the confirming button.
export function confirmDialog(title, text, yes) {
	return new Promise((resolve) => {
		const dlg = h('dialog', { class: 'confirm', 'aria-label': title },
			h('h2', null, title), h('p', null, text),
			h('div', { class: 'actions' },
				h('button', { type: 'button', class: 'secondary', onclick: () => dlg.close('no') }, 'Keep running'),
				h('button', { type: 'button', class: 'danger', 'data-confirm': 'yes', onclick: () => dlg.close('yes') }, yes)));
		dlg.addEventListener('close', () => { dlg.remove(); resolve(dlg.returnValue === 'yes'); });
		document.body.append(dlg);
		dlg.showModal();
	});
}

// An execution's AMC window {start, end (exclusive), timezone} as people read it:
// "2026-11-23 – 2026-11-29, America/New_York" for whole days, else the times as given.
export function fmtTimeWindow(tw) {
	if (!tw || !tw.start || !tw.end) return '';
	const zone = tw.timezone || 'UTC';
	const m = /^(\d{4})-(\d{2})-(\d{2})T00:00:00$/.exec(tw.end);
	if (m && /T00:00:00$/.test(tw.start)) {
		const last = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3] - 1)).toISOString().slice(0, 10);
		return tw.start.slice(0, 10) + ' – ' + last + ', ' + zone;
	}
	return tw.start + ' – ' + tw.end + ', ' + zone;
}

// A batch's relative window {type, n, lag_days} in words.
const WINDOW_WORDS = { previous_week: 'previous week', previous_month: 'previous month',
	month_to_date: 'month to date', last_n_days: 'last %n days', last_n_full_weeks: 'last %n full weeks' };
export function fmtWindow(w) {
	if (!w || !w.type) return '';
	const words = (WINDOW_WORDS[w.type] || w.type).replace('%n', w.n ?? '?');
	return words + (w.lag_days ? ' (lag ' + w.lag_days + ' day' + (w.lag_days === 1 ? '' : 's') + ')' : '');
}

// A failure policy in words (on_failure: "continue", "fail_fast" or {min_success_ratio}).
export function fmtPolicy(p) {
	if (p === 'fail_fast') return 'stop at the first failure';
	if (p && typeof p === 'object' && typeof p.min_success_ratio === 'number')
		return 'require ' + Math.round(p.min_success_ratio * 10000) / 100 + ' % success';
	return 'continue';
}

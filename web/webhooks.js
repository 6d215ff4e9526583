// webhooks.js - the "Webhooks" settings views: the user's webhooks (list, add with URL, event
// checkboxes and format, delete) at #/webhooks, and one webhook's delivery log at
// #/webhooks/{id}. The signing secret is shown once, right after adding, as the API gives it.
import { h, fill, badge, fmtTime, toast } from './dom.js';
import { get, post, del } from './api.js';

const EVENTS = ['batch.completed', 'batch.partial', 'batch.failed', 'batch.cancelled', 'schedule.run_skipped'];

export async function webhooksView(view, stale) {
	const { webhooks } = await get('/webhooks');
	if (stale()) return;
	const url = h('input', { type: 'url', name: 'url', required: true, placeholder: 'https://hooks.example.com/amcbatch' });
	const boxes = EVENTS.map((e) => h('label', { class: 'check' },
		h('input', { type: 'checkbox', name: 'events', value: e, checked: e !== 'schedule.run_skipped' }), ' ' + e));
	const format = h('select', { name: 'format', 'aria-label': 'Format' },
		h('option', { value: 'json' }, 'JSON'), h('option', { value: 'slack' }, 'Slack message'));
	const err = h('div', { class: 'form-error', role: 'alert' });
	const secretBox = h('div', { class: 'panel', hidden: true, 'data-testid': 'webhook-secret' });
	const btn = h('button', { type: 'submit', class: 'primary' }, 'Add webhook');
	const form = h('form', { class: 'panel', novalidate: true, 'data-testid': 'webhook-form', onsubmit: async (e) => {
		e.preventDefault();
		err.textContent = '';
		const events = boxes.map((b) => b.querySelector('input')).filter((i) => i.checked).map((i) => i.value);
		btn.disabled = true;
		try {
			const r = await post('/webhooks', { url: url.value.trim(), events, format: format.value });
			await webhooksView(view, stale);
			const s = view.querySelector('[data-testid="webhook-secret"]');
			if (s && r.webhook.secret) {
				s.hidden = false;
				s.append(h('h2', null, 'Signing secret'),
					h('p', { class: 'muted' }, 'Shown once: store it now to verify the Amcbatch-Signature header.'),
					h('pre', { class: 'mono' }, r.webhook.secret));
			}
			toast('Webhook added');
		} catch (ex) {
			err.textContent = ex.message;
		} finally { btn.disabled = false; }
	} }, h('h2', null, 'Add a webhook'),
	h('div', { class: 'field' }, h('label', null, 'URL'), url),
	h('div', { class: 'field' }, h('label', null, 'Events'), h('div', { class: 'inline' }, boxes)),
	h('div', { class: 'field' }, h('label', null, 'Format'), format), err, btn);
	fill(view, h('div', { class: 'page-head' }, h('h1', null, 'Webhooks')),
		h('p', { class: 'muted' }, 'amcbatch POSTs a signed event to these URLs when one of your batches ends.'),
		secretBox,
		h('table', { class: 'data', 'data-testid': 'webhooks' },
			h('thead', null, h('tr', null, ['URL', 'Events', 'Format', 'Secret', 'Created', ''].map((c) => h('th', null, c)))),
			h('tbody', null, webhooks.map((w) => h('tr', { 'data-webhook': w.id },
				h('td', null, h('a', { href: '#/webhooks/' + w.id }, w.url)),
				h('td', null, w.events.join(', ')), h('td', null, w.format),
				h('td', { class: 'muted' }, '…' + w.secret_hint), h('td', null, fmtTime(w.created_at)),
				h('td', { class: 'right' }, h('button', { type: 'button', class: 'secondary', 'data-delete': w.id,
					onclick: async () => {
						if (!window.confirm('Delete the webhook for ' + w.url + '?')) return;
						try { await del('/webhooks/' + w.id); toast('Webhook deleted'); await webhooksView(view, stale); }
						catch (ex) { toast(ex.message, 'error'); }
					} }, 'Delete')))))),
		...(webhooks.length === 0 ? [h('p', { class: 'muted' }, 'No webhook yet.')] : []),
		form);
}

export async function deliveriesView(view, id, stale) {
	const [{ webhook: w }, { deliveries, total }] = await Promise.all([
		get('/webhooks/' + encodeURIComponent(id)),
		get('/webhooks/' + encodeURIComponent(id) + '/deliveries?limit=50')]);
	if (stale()) return;
	const attempt = (a) => h('li', null, fmtTime(a.at) + ' · ',
		a.status_code ? 'HTTP ' + a.status_code : 'no answer', ' · ' + a.latency_ms + ' ms',
		...(a.error ? [h('span', { class: 'error' }, ' · ' + a.error)] : []));
	fill(view, h('div', { class: 'page-head' }, h('div', null, h('h1', null, 'Deliveries'),
		h('p', { class: 'muted' }, w.url + ' · ' + w.events.join(', '))),
	h('a', { class: 'button secondary', href: '#/webhooks' }, 'All webhooks')),
	h('table', { class: 'data', 'data-testid': 'deliveries' },
		h('thead', null, h('tr', null, ['Event', 'State', 'Created', 'Attempts'].map((c) => h('th', null, c)))),
		h('tbody', null, deliveries.map((d) => h('tr', { 'data-delivery': d.id },
			h('td', null, d.event, h('div', { class: 'muted small' }, d.id)),
			h('td', null, badge(d.state === 'delivered' ? 'completed' : d.state === 'pending' ? 'running' : 'failed'), ' ' + d.state),
			h('td', null, fmtTime(d.created_at)),
			h('td', null, h('ol', { class: 'small' }, d.attempts.map(attempt))))))),
	...(deliveries.length === 0 ? [h('p', { class: 'muted' }, 'Nothing delivered yet.')] : []),
	h('p', { class: 'muted' }, deliveries.length + ' of ' + total + ' deliveries, newest first.'));
}

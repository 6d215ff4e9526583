// admin.js - the admin pages: users (#/admin/users; create, role, disable) with one user's
// tokens and grants (#/admin/users/{id}; a token's secret is shown once, an account's
// instances are granted at once), AMC accounts (#/admin/accounts; the LWA credential inputs
// are write-only: empty, never filled from the server) and instances (#/admin/instances;
// edit, sandbox, disable). Input limits come from GET /me (field_limits, src/core/fieldlen.h).
import { h, fill, fmtTime, toast } from './dom.js';
import { get, post, patch, del } from './api.js';

const enc = encodeURIComponent;

function tabs(current) {
	const tab = (id, label) => h('a', { href: '#/admin/' + id, class: 'button ' + (id === current ? 'primary' : 'secondary'),
		'aria-current': id === current ? 'page' : null }, label);
	return h('div', { class: 'inline admin-tabs' }, tab('users', 'Users'), tab('accounts', 'Accounts'), tab('instances', 'Instances'));
}

const field = (label, input, hint) => h('div', { class: 'field' }, h('label', null, label, input), hint ? h('div', { class: 'muted small' }, hint) : null);
const text = (name, max, attrs) => h('input', { type: 'text', name, maxlength: max, autocomplete: 'off', ...(attrs || {}) });
const status = (disabled) => h('span', { class: 'badge ' + (disabled ? 'st-failed' : 'st-completed') }, disabled ? 'disabled' : 'enabled');

// A form that posts what build() returns, shows the API's error in it, then calls done(answer).
function form(testid, title, controls, button, build, done) {
	const err = h('div', { class: 'form-error', role: 'alert' });
	const btn = h('button', { type: 'submit', class: 'primary' }, button);
	const f = h('form', { class: 'panel', 'data-testid': testid, novalidate: true, onsubmit: async (e) => {
		e.preventDefault();
		err.textContent = '';
		btn.disabled = true;
		try { await done(await build()); } catch (ex) { err.textContent = ex.message; } finally { btn.disabled = false; }
	} }, title ? h('h2', null, title) : null, controls, err, btn);
	return f;
}

// A secret the API shows once (a new token), with a copy button.
function secretPanel(title, secret) {
	return h('section', { class: 'panel', 'data-testid': 'secret-once' }, h('h2', null, title),
		h('p', { class: 'muted' }, 'Shown once: copy it now. It cannot be shown again.'),
		h('pre', { class: 'mono', 'data-testid': 'secret-value' }, secret),
		h('button', { type: 'button', class: 'secondary', onclick: () => navigator.clipboard.writeText(secret).then(
			() => toast('Copied'), () => toast('Copy failed: select the text instead', 'error')) }, 'Copy'));
}

// ---- users ----

export async function usersView(view, me, stale, created) {
	const { users } = await get('/admin/users');
	if (stale()) return;
	const lim = me.field_limits;
	const email = h('input', { type: 'email', name: 'email', maxlength: lim.email, required: true, autocomplete: 'off' });
	const role = h('select', { name: 'role' }, h('option', { value: 'member' }, 'member'), h('option', { value: 'admin' }, 'admin'));
	const reload = (c) => usersView(view, me, stale, c);
	const act = (u, body, what) => async () => {
		try { await patch('/admin/users/' + enc(u.id), body); toast(u.email + ': ' + what); await reload(); } catch (ex) { toast(ex.message, 'error'); }
	};
	fill(view, h('div', { class: 'page-head' }, h('h1', null, 'Users'), tabs('users')),
		created ? secretPanel('API token of ' + created.user.email, created.token) : null,
		h('table', { class: 'data', 'data-testid': 'admin-users' },
			h('thead', null, h('tr', null, ['E-mail', 'Role', 'Status', 'Tokens', 'Instances', 'Created', ''].map((c) => h('th', null, c)))),
			h('tbody', null, users.map((u) => h('tr', { 'data-user': u.email },
				h('td', null, h('a', { href: '#/admin/users/' + u.id }, u.email), u.id === me.user.id ? h('span', { class: 'tag' }, 'you') : null),
				h('td', null, u.role), h('td', null, status(u.disabled)),
				h('td', { class: 'num' }, String(u.token_count)), h('td', { class: 'num' }, String(u.instance_count)),
				h('td', null, fmtTime(u.created_at)),
				h('td', { class: 'right' },
					h('button', { type: 'button', class: 'secondary', onclick: act(u, { role: u.role === 'admin' ? 'member' : 'admin' }, 'role changed') },
						u.role === 'admin' ? 'Make member' : 'Make admin'), ' ',
					h('button', { type: 'button', class: u.disabled ? 'secondary' : 'danger', 'data-action': 'toggle',
						onclick: act(u, { disabled: !u.disabled }, u.disabled ? 'enabled' : 'disabled') }, u.disabled ? 'Enable' : 'Disable')))))),
		form('user-form', 'New user', [field('E-mail', email), field('Role', role)], 'Create user',
			() => post('/admin/users', { email: email.value.trim(), role: role.value }), (r) => reload(r)));
}

export async function userView(view, id, me, stale, secret) {
	const [{ users }, { tokens }, { grants }, { accounts }, { instances }] = await Promise.all([
		get('/admin/users'), get('/admin/users/' + enc(id) + '/tokens'), get('/admin/grants?user_id=' + enc(id)),
		get('/admin/accounts'), get('/admin/instances')]);
	if (stale()) return;
	const u = users.find((x) => x.id === id);
	if (!u) throw new Error('user ' + id + ' not found');
	const reload = (s) => userView(view, id, me, stale, s);
	const lim = me.field_limits;
	const name = text('name', lim.token_name, { placeholder: 'e.g. laptop CLI' });
	const expires = h('input', { type: 'date', name: 'expires_at' });
	const granted = new Set(grants.map((g) => g.instance_id));
	const account = h('select', { name: 'account', 'aria-label': 'Account' },
		accounts.map((a) => h('option', { value: a.id }, a.account_name + ' (' + a.instance_count + ' instances)')));
	const pick = h('select', { name: 'instances', multiple: true, size: 8, 'aria-label': 'Instances' },
		instances.filter((i) => !granted.has(i.id)).map((i) => h('option', { value: i.id }, i.instance_name + ' · ' + i.instance_id + (i.disabled ? ' (disabled)' : ''))));
	const grant = (body, method) => async () => {
		const r = await (method === 'DELETE' ? del('/admin/grants', body) : post('/admin/grants', body));
		toast((method === 'DELETE' ? 'Revoked ' : 'Granted ') + r.grants.changed.length + ' of ' + r.grants.instance_ids.length + ' instances');
		await reload();
	};
	fill(view, h('div', { class: 'page-head' }, h('div', null, h('h1', null, u.email),
		h('p', { class: 'muted' }, u.role + ' · ', status(u.disabled), ' · created ' + fmtTime(u.created_at))), tabs('users')),
	secret ? secretPanel('New API token', secret) : null,
	h('section', { class: 'panel' }, h('h2', null, 'API tokens'),
		h('table', { class: 'data', 'data-testid': 'user-tokens' },
			h('thead', null, h('tr', null, ['Name', 'Created', 'Expires', 'Last used', 'State', ''].map((c) => h('th', null, c)))),
			h('tbody', null, tokens.map((t) => h('tr', { 'data-token': t.id },
				h('td', null, t.name || '–'), h('td', null, fmtTime(t.created_at)), h('td', null, fmtTime(t.expires_at)),
				h('td', null, fmtTime(t.last_used_at)), h('td', null, t.revoked_at ? 'revoked ' + fmtTime(t.revoked_at) : 'active'),
				h('td', { class: 'right' }, t.revoked_at ? null : h('button', { type: 'button', class: 'danger', onclick: async () => {
					if (!window.confirm('Revoke this token? Programs using it stop working at once.')) return;
					try { await del('/admin/tokens/' + enc(t.id)); toast('Token revoked'); await reload(); } catch (ex) { toast(ex.message, 'error'); }
				} }, 'Revoke')))))),
		form('token-form', null, h('div', { class: 'inline' }, field('Name', name), field('Expires (optional)', expires)), 'Create token',
			() => post('/admin/users/' + enc(id) + '/tokens', { name: name.value.trim() || undefined, expires_at: expires.value || undefined }),
			(r) => reload(r.token))),
	h('section', { class: 'panel' }, h('h2', null, 'Instances this user may use'),
		grants.length === 0 ? h('p', { class: 'muted' }, u.role === 'admin' ? 'None granted (an admin may use every instance).' : 'None yet.')
			: h('table', { class: 'data', 'data-testid': 'user-grants' },
				h('thead', null, h('tr', null, ['Instance', 'AMC id', 'Account', 'Status', 'Granted', ''].map((c) => h('th', null, c)))),
				h('tbody', null, grants.map((g) => h('tr', { 'data-instance': g.instance_id },
					h('td', null, g.instance_name), h('td', null, g.amc_instance_id), h('td', null, g.account_name),
					h('td', null, status(g.instance_disabled)), h('td', null, fmtTime(g.granted_at)),
					h('td', { class: 'right' }, h('button', { type: 'button', class: 'secondary',
						onclick: () => grant({ user_id: id, instance_ids: [g.instance_id] }, 'DELETE')().catch((ex) => toast(ex.message, 'error')) }, 'Revoke')))))),
		form('grant-account-form', 'Grant an account\'s instances', field('Account', account), 'Grant all its instances',
			async () => ({ user_id: id, account_id: account.value }), (b) => grant(b)()),
		form('grant-instances-form', 'Grant single instances', field('Instances (Ctrl-click for several)', pick), 'Grant selected',
			async () => {
				const ids = [...pick.selectedOptions].map((o) => o.value);
				if (!ids.length) throw new Error('Pick at least one instance.');
				return { user_id: id, instance_ids: ids };
			}, (b) => grant(b)())));
}

// ---- accounts ----

export async function accountsView(view, me, stale, editId) {
	const { accounts } = await get('/admin/accounts');
	if (stale()) return;
	const lim = me.field_limits;
	const cur = accounts.find((a) => a.id === editId) || null;
	const v = (k, d) => (cur ? cur[k] : d);
	const f = {
		account_name: text('account_name', lim.text, { value: v('account_name', ''), required: true }),
		advertiser_id: text('advertiser_id', lim.text, { value: v('advertiser_id', ''), required: true, placeholder: 'ENTITY…' }),
		marketplace_id: text('marketplace_id', lim.text, { value: v('marketplace_id', 'ATVPDKIKX0DER') }),
		region: h('select', { name: 'region' }, ['NA', 'EU', 'FE'].map((r) => h('option', { value: r, selected: v('region', 'NA') === r }, r))),
		lwa_client_id: text('lwa_client_id', lim.text, { value: v('lwa_client_id', '') }),
		// write-only: never filled in; empty keeps what is stored
		lwa_refresh_token: h('input', { type: 'password', name: 'lwa_refresh_token', maxlength: lim.secret, autocomplete: 'new-password',
			placeholder: cur && cur.has_refresh_token ? 'stored – type to replace' : 'not set' }),
		lwa_client_secret: h('input', { type: 'password', name: 'lwa_client_secret', maxlength: lim.secret, autocomplete: 'new-password',
			placeholder: cur && cur.has_client_secret ? 'stored – type to replace' : 'not set' }),
	};
	const body = () => {
		const b = {};
		for (const [k, el] of Object.entries(f)) {
			const val = el.value.trim();
			if (k.startsWith('lwa_') && k !== 'lwa_client_id' && val === '') continue;	// keep the stored secret
			if (!cur || val !== String(cur[k] ?? '')) b[k] = val;
		}
		return b;
	};
	const reload = (id) => accountsView(view, me, stale, id);
	fill(view, h('div', { class: 'page-head' }, h('h1', null, 'AMC accounts'), tabs('accounts')),
		h('table', { class: 'data', 'data-testid': 'admin-accounts' },
			h('thead', null, h('tr', null, ['Name', 'Advertiser', 'Marketplace', 'Region', 'Refresh token', 'Client secret', 'Instances', ''].map((c) => h('th', null, c)))),
			h('tbody', null, accounts.map((a) => h('tr', { 'data-account': a.account_name },
				h('td', null, a.account_name), h('td', null, a.advertiser_id), h('td', null, a.marketplace_id), h('td', null, a.region),
				h('td', null, a.has_refresh_token ? 'stored' : 'none'), h('td', null, a.has_client_secret ? 'stored' : 'none'),
				h('td', { class: 'num' }, String(a.instance_count)),
				h('td', { class: 'right' }, h('button', { type: 'button', class: 'secondary', onclick: () => reload(a.id) }, 'Edit')))))),
		form('account-form', cur ? 'Edit ' + cur.account_name : 'New account', [
			h('div', { class: 'grid2' }, field('Name', f.account_name), field('Advertiser id', f.advertiser_id),
				field('Marketplace id', f.marketplace_id), field('Region', f.region, 'The AMC API and token hosts used'),
				field('LWA client id', f.lwa_client_id)),
			h('div', { class: 'grid2' }, field('LWA refresh token', f.lwa_refresh_token), field('LWA client secret', f.lwa_client_secret)),
			h('p', { class: 'muted small' }, 'Credentials are stored encrypted and never shown again.'),
			cur ? h('button', { type: 'button', class: 'link', onclick: () => reload(null) }, 'Cancel edit') : null],
		cur ? 'Save account' : 'Create account',
		async () => {
			const b = body();
			if (cur && Object.keys(b).length === 0) throw new Error('Nothing changed.');
			return cur ? patch('/admin/accounts/' + enc(cur.id), b) : post('/admin/accounts', b);
		},
		(r) => { toast('Account ' + r.account.account_name + ' saved'); return reload(null); }));
}

// ---- instances ----

export async function instancesView(view, me, stale, editId) {
	const [{ instances }, { accounts }] = await Promise.all([get('/admin/instances'), get('/admin/accounts')]);
	if (stale()) return;
	const lim = me.field_limits;
	const cur = instances.find((i) => i.id === editId) || null;
	const v = (k, d) => (cur ? cur[k] : d);
	const f = {
		instance_id: text('instance_id', lim.instance_id, { value: v('instance_id', ''), disabled: !!cur, placeholder: 'amc…' }),
		instance_name: text('instance_name', lim.text, { value: v('instance_name', '') }),
		region: text('region', lim.region, { value: v('region', ''), placeholder: 'us-east-1' }),
		account_id: h('select', { name: 'account_id', disabled: !!cur },
			accounts.map((a) => h('option', { value: a.id, selected: v('account_id', '') === a.id }, a.account_name))),
		brands: text('brands', lim.text * 4, { value: (v('brands', []) || []).join(', '), placeholder: 'comma-separated' }),
		timezone: text('timezone', lim.timezone, { value: v('timezone', 'UTC') }),
		is_sandbox: h('input', { type: 'checkbox', name: 'is_sandbox', checked: !!v('is_sandbox', false) }),
	};
	const reload = (id) => instancesView(view, me, stale, id);
	const toggle = (i) => async () => {
		try { await patch('/admin/instances/' + enc(i.id), { disabled: !i.disabled }); toast(i.instance_name + (i.disabled ? ' enabled' : ' disabled')); await reload(editId); }
		catch (ex) { toast(ex.message, 'error'); }
	};
	fill(view, h('div', { class: 'page-head' }, h('h1', null, 'Instances'), tabs('instances')),
		h('table', { class: 'data', 'data-testid': 'admin-instances' },
			h('thead', null, h('tr', null, ['Name', 'AMC id', 'Account', 'Time zone', 'Brands', 'Status', 'Users', ''].map((c) => h('th', null, c)))),
			h('tbody', null, instances.map((i) => h('tr', { 'data-instance': i.instance_id },
				h('td', null, i.instance_name, i.is_sandbox ? h('span', { class: 'badge sandbox' }, 'sandbox') : null),
				h('td', null, i.instance_id), h('td', null, i.account_name), h('td', null, i.timezone),
				h('td', null, i.brands.join(', ')), h('td', null, status(i.disabled)), h('td', { class: 'num' }, String(i.user_count)),
				h('td', { class: 'right' }, h('button', { type: 'button', class: 'secondary', 'data-action': 'edit', onclick: () => reload(i.id) }, 'Edit'), ' ',
					h('button', { type: 'button', class: i.disabled ? 'secondary' : 'danger', 'data-action': 'toggle', onclick: toggle(i) },
						i.disabled ? 'Enable' : 'Disable')))))),
		form('instance-form', cur ? 'Edit ' + cur.instance_name : 'New instance', [
			h('div', { class: 'grid2' }, field('AMC instance id', f.instance_id), field('Name', f.instance_name),
				field('AWS region', f.region), field('Account', f.account_id),
				field('Brands', f.brands), field('Time zone (IANA)', f.timezone, 'Relative windows are resolved in it')),
			h('label', { class: 'check' }, f.is_sandbox, ' Sandbox instance'),
			cur ? h('button', { type: 'button', class: 'link', onclick: () => reload(null) }, 'Cancel edit') : null],
		cur ? 'Save instance' : 'Create instance',
		async () => {
			const b = { instance_name: f.instance_name.value.trim(), region: f.region.value.trim(), timezone: f.timezone.value.trim(),
				brands: f.brands.value.split(',').map((s) => s.trim()).filter(Boolean), is_sandbox: f.is_sandbox.checked };
			if (cur) return patch('/admin/instances/' + enc(cur.id), b);
			return post('/admin/instances', { ...b, instance_id: f.instance_id.value.trim(), account_id: f.account_id.value });
		},
		(r) => { toast('Instance ' + r.instance.instance_name + ' saved'); return reload(null); }));
}

// selector.js - MultiInstanceSelector: debounced case-insensitive search over name, AMC id,
// brands and account; checkboxes; select all visible; clear all; removable pills; a windowed
// list (only the rows in view exist in the DOM, so 1,000+ instances stay fast); keyboard:
// arrows/Home/End/PageUp/PageDown move, Space/Enter toggle, Ctrl+A selects all visible.
import { h, clear, debounce } from './dom.js';

const ROW = 52;		// px, fixed row height (keep in step with .sel-row in app.css)
const OVERSCAN = 6;

export class InstanceSelector {
	constructor(instances, onChange) {
		this.all = instances.map((i) => ({
			...i,
			hay: [i.instance_name, i.instance_id, i.id, i.account_name, ...(i.brands || [])]
				.join('\u0001').toLowerCase(),
		}));
		this.byId = new Map(this.all.map((i) => [i.id, i]));
		this.selected = new Set();
		this.visible = this.all;
		this.active = 0;
		this.onChange = onChange || (() => {});
		this.build();
	}

	build() {
		this.search = h('input', {
			type: 'search', class: 'sel-search', placeholder: 'Search name, AMC id, brand or account…',
			'aria-label': 'Search instances', 'data-testid': 'instance-search',
			oninput: debounce(() => this.filter(this.search.value), 150),
			onkeydown: (e) => { if (e.key === 'ArrowDown') { e.preventDefault(); this.list.focus(); } },
		});
		this.count = h('span', { class: 'muted sel-count' });
		this.pills = h('div', { class: 'pills', 'aria-label': 'Selected instances' });
		this.spacer = h('div', { class: 'sel-spacer' });
		this.list = h('div', {
			class: 'sel-list', tabindex: 0, role: 'listbox', 'aria-multiselectable': 'true',
			'aria-label': 'Instances', onscroll: () => this.paint(), onkeydown: (e) => this.key(e),
		}, this.spacer);
		this.el = h('div', { class: 'selector' },
			h('div', { class: 'sel-bar' }, this.search,
				h('button', { type: 'button', class: 'secondary', 'data-testid': 'select-visible',
					onclick: () => this.selectVisible() }, 'Select all visible'),
				h('button', { type: 'button', class: 'secondary', 'data-testid': 'clear-all',
					onclick: () => this.setSelected([]) }, 'Clear all')),
			this.count, this.pills, this.list);
		this.filter('');
	}

	filter(text) {
		const words = text.trim().toLowerCase().split(/\s+/).filter(Boolean);
		this.visible = words.length === 0 ? this.all
			: this.all.filter((i) => words.every((w) => i.hay.includes(w)));
		this.active = 0;
		this.spacer.style.height = this.visible.length * ROW + 'px';
		this.list.scrollTop = 0;
		this.paint(true);
		this.renderMeta();
	}

	// Draws the rows in the viewport (plus a margin) only.
	paint(force) {
		const top = this.list.scrollTop;
		const height = this.list.clientHeight || 320;
		const first = Math.max(0, Math.floor(top / ROW) - OVERSCAN);
		const last = Math.min(this.visible.length, Math.ceil((top + height) / ROW) + OVERSCAN);
		if (!force && first === this.first && last === this.last) return;
		this.first = first;
		this.last = last;
		clear(this.spacer);
		for (let k = first; k < last; k++) this.spacer.append(this.row(this.visible[k], k));
		if (this.visible.length === 0)
			this.spacer.append(h('div', { class: 'sel-empty muted' }, 'No instance matches.'));
	}

	row(inst, k) {
		const on = this.selected.has(inst.id);
		const el = h('div', {
			class: 'sel-row' + (on ? ' on' : '') + (k === this.active ? ' active' : ''),
			role: 'option', 'aria-selected': on ? 'true' : 'false', id: 'opt-' + inst.id,
			'data-instance-id': inst.id,
			onclick: (e) => { e.preventDefault(); this.active = k; this.toggle(inst.id); },
		},
		h('input', { type: 'checkbox', checked: on, tabindex: -1, 'aria-label': 'Select ' + inst.instance_name }),
		h('div', { class: 'sel-main' },
			h('div', null, h('strong', null, inst.instance_name), ' ',
				inst.is_sandbox ? h('span', { class: 'badge sandbox' }, 'sandbox') : null,
				...(inst.brands || []).map((b) => h('span', { class: 'tag' }, b))),
			h('div', { class: 'muted small' }, inst.instance_id, ' · ', inst.region, ' · ', inst.account_name)));
		el.style.top = k * ROW + 'px';
		return el;
	}

	key(e) {
		const n = this.visible.length;
		if (n === 0) return;
		const page = Math.max(1, Math.floor(this.list.clientHeight / ROW) - 1);
		let a = this.active;
		switch (e.key) {
		case 'ArrowDown': a = Math.min(n - 1, a + 1); break;
		case 'ArrowUp': if (a === 0) { this.search.focus(); e.preventDefault(); return; } a -= 1; break;
		case 'PageDown': a = Math.min(n - 1, a + page); break;
		case 'PageUp': a = Math.max(0, a - page); break;
		case 'Home': a = 0; break;
		case 'End': a = n - 1; break;
		case ' ': case 'Enter': e.preventDefault(); this.toggle(this.visible[a].id); return;
		case 'a': if (e.ctrlKey || e.metaKey) { e.preventDefault(); this.selectVisible(); } return;
		default: return;
		}
		e.preventDefault();
		this.active = a;
		const y = a * ROW;
		if (y < this.list.scrollTop) this.list.scrollTop = y;
		else if (y + ROW > this.list.scrollTop + this.list.clientHeight)
			this.list.scrollTop = y + ROW - this.list.clientHeight;
		this.paint(true);
		this.list.setAttribute('aria-activedescendant', 'opt-' + this.visible[a].id);
	}

	toggle(id) {
		if (this.selected.has(id)) this.selected.delete(id);
		else this.selected.add(id);
		this.changed();
	}

	selectVisible() {
		for (const i of this.visible) this.selected.add(i.id);
		this.changed();
	}

	setSelected(ids) {
		this.selected = new Set(ids.filter((id) => this.byId.has(id)));
		this.changed();
	}

	changed() {
		this.paint(true);
		this.renderMeta();
		this.onChange([...this.selected]);
	}

	renderMeta() {
		this.count.textContent = this.selected.size + ' selected · ' + this.visible.length +
			' of ' + this.all.length + ' shown';
		clear(this.pills);
		for (const id of this.selected) {
			const i = this.byId.get(id);
			this.pills.append(h('span', { class: 'pill', 'data-pill': id }, i.instance_name,
				h('button', { type: 'button', class: 'pill-x', 'aria-label': 'Remove ' + i.instance_name,
					onclick: () => this.toggle(id) }, '×')));
		}
	}

	value() { return [...this.selected]; }
}

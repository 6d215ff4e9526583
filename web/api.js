// api.js - the API client: the bearer token from local storage on every call, JSON in and
// out, errors as ApiError carrying the API's error code and the field it names.

const KEY = 'amcbatch.token';

export class ApiError extends Error {
	constructor(status, code, message, field) {
		super(message);
		this.status = status;
		this.code = code;
		this.field = field || null;
	}
}

export const token = {
	get: () => localStorage.getItem(KEY) || '',
	set: (t) => localStorage.setItem(KEY, t),
	clear: () => localStorage.removeItem(KEY),
};

let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

export async function request(method, path, body, extraHeaders) {
	const headers = { Accept: 'application/json', ...(extraHeaders || {}) };
	const t = token.get();
	if (t) headers.Authorization = 'Bearer ' + t;
	if (body !== undefined) headers['Content-Type'] = 'application/json';
	let res;
	try {
		res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
	} catch (e) {
		throw new ApiError(0, 'network', 'cannot reach the server: ' + e.message);
	}
	let data = null;
	try { data = await res.json(); } catch (e) { data = null; }
	if (!res.ok || !data || data.success === false) {
		const err = (data && data.error) || {};
		if (res.status === 401) onUnauthorized();
		throw new ApiError(res.status, err.code || 'http_' + res.status,
			err.message || 'request failed (' + res.status + ')', err.field);
	}
	return data;
}

export const get = (path) => request('GET', path);
export const del = (path, body) => request('DELETE', path, body);
export const patch = (path, body) => request('PATCH', path, body);
export const post = (path, body, headers) => request('POST', path, body === undefined ? {} : body, headers);

// Downloads an authenticated file: fetch with the header, then save the blob under the name
// the server gives in Content-Disposition. A plain link could not send the token.
export async function download(path, fallbackName) {
	const res = await fetch(path, { headers: { Authorization: 'Bearer ' + token.get() } });
	if (!res.ok) {
		let msg = 'download failed (' + res.status + ')';
		try { msg = (await res.json()).error.message; } catch (e) { /* not JSON */ }
		throw new ApiError(res.status, 'download', msg);
	}
	const m = /filename="([^"]+)"/.exec(res.headers.get('Content-Disposition') || '');
	const name = m ? m[1] : fallbackName;
	const blob = await res.blob();
	const url = URL.createObjectURL(blob);
	const a = document.createElement('a');
	a.href = url;
	a.download = name;
	document.body.append(a);
	a.click();
	a.remove();
	setTimeout(() => URL.revokeObjectURL(url), 10000);
	return name;
}

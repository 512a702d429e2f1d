/*
 * The sluice dashboard (docs/serve-dashboard.md): a jobs list with progress,
 * a job view (counters, chunk grid, rejects by error code, download of the
 * rejected rows, retry, refeed and cancel) and an upload form with a tus 1.0 client
 * that falls back to the plain upload route. Inlined into index.html at build
 * time; no framework, no other file, no external URL.
 *
 * Everything is polled once a second rather than pushed: EventSource cannot
 * send the Authorization header, and a poll survives server restarts with no
 * reconnection logic. Each poll loop waits for its answer before scheduling
 * the next, so a slow server never piles requests up.
 *
 * Numbers are shown exactly as the API gives them (no rounding or thousands
 * separators) so what the page says can be compared with the API.
 */
'use strict';
(() => {
	const POLL_MS = 1000;
	const TUS_PIECE = 4 * 1024 * 1024; /* bytes per PATCH */
	const TUS_RETRIES = 6;             /* failed PATCHes in a row before giving up */
	const KEY_STORE = 'sluice.apiKey';
	const TUS_STORE = 'sluice.tus:';   /* + fingerprint -> upload URL, to resume */
	const FINAL = new Set(['Succeeded', 'PartiallySucceeded', 'Failed', 'RolledBack', 'Cancelled']);
	const CHUNK_STATUSES = ['Queued', 'Processing', 'Succeeded', 'Failed'];

	const $ = (id) => document.getElementById(id);
	const el = (tag, attrs = {}, text) => {
		const e = document.createElement(tag);
		for (const [k, v] of Object.entries(attrs))
			e.setAttribute(k, v);
		if (text !== undefined)
			e.textContent = text;
		return e;
	};
	/* Write only on change: rewriting every second would reset selections
	   and make screen readers repeat live regions. */
	const setText = (e, v) => {
		const s = v === null || v === undefined ? '—' : String(v);
		if (e.textContent !== s)
			e.textContent = s;
	};
	const setAttr = (e, k, v) => {
		if (e.getAttribute(k) !== String(v))
			e.setAttribute(k, v);
	};
	const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
	const when = (ms) => (ms ? new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : null);
	const totalBytes = (j) => j.bytes_total ?? j.bytes ?? 0;

	/* --- the API key ------------------------------------------------------------- */

	let apiKey = localStorage.getItem(KEY_STORE) || '';
	let keyPrompt = null; /* one prompt shared by every request that got 401 */

	function showKeyState() {
		setText($('key-state'), apiKey ? 'API key set' : 'no API key');
	}

	/* Show the key form; resolves once a key is entered. Requests that get
	   401 wait on it and then try again with the new key. */
	function askKey(message) {
		if (!keyPrompt) {
			keyPrompt = new Promise((resolve) => {
				const form = $('key-form');
				setText($('key-message'), message);
				form.hidden = false;
				$('key-input').value = '';
				$('key-input').focus();
				form.onsubmit = (ev) => {
					ev.preventDefault();
					apiKey = $('key-input').value.trim();
					localStorage.setItem(KEY_STORE, apiKey);
					form.hidden = true;
					keyPrompt = null;
					showKeyState();
					resolve();
				};
			});
		}
		return keyPrompt;
	}
	$('key-change').onclick = () => askKey('Enter an API key.');
	$('key-forget').onclick = () => {
		localStorage.removeItem(KEY_STORE);
		apiKey = '';
		showKeyState();
		$('key-input').value = '';
	};

	const withKey = (h = {}) => (apiKey ? { ...h, Authorization: 'Bearer ' + apiKey } : h);

	function errorText(status, body) {
		try {
			const e = JSON.parse(body).error;
			if (e && e.code)
				return `${status} ${e.code}: ${e.message}`;
		} catch (_) { /* not JSON */ }
		return `${status} ${body.slice(0, 200)}`;
	}
	const keyMessage = (status, body) =>
		(apiKey ? 'The server refused this key (' : 'The server needs an API key (') + errorText(status, body) + ').';

	/* fetch with the key; a 401 asks for a key and tries again. */
	async function api(method, path, opts = {}) {
		for (;;) {
			const res = await fetch(path, { method, cache: 'no-store', ...opts, headers: withKey(opts.headers) });
			if (res.status !== 401)
				return res;
			await askKey(keyMessage(res.status, await res.text()));
		}
	}
	async function apiJSON(method, path) {
		const res = await api(method, path);
		const text = await res.text();
		let data = null;
		try {
			data = JSON.parse(text);
		} catch (_) { /* keep null */ }
		return { status: res.status, ok: res.ok, data, text };
	}

	/* XMLHttpRequest for uploads: fetch reports no upload progress. Resolves
	   with the answer whatever its status; rejects on a network error. */
	function xhrOnce(method, url, headers, body, onSent) {
		return new Promise((resolve, reject) => {
			const x = new XMLHttpRequest();
			x.open(method, url);
			for (const [k, v] of Object.entries(withKey(headers)))
				x.setRequestHeader(k, v);
			if (onSent)
				x.upload.onprogress = (e) => onSent(e.loaded);
			x.onload = () => resolve({ status: x.status, header: (n) => x.getResponseHeader(n), text: x.responseText });
			x.onerror = () => reject(new Error('network error'));
			x.onabort = () => reject(new Error('aborted'));
			x.send(body === undefined ? null : body);
		});
	}
	async function xhr(method, url, headers, body, onSent) {
		for (;;) {
			const r = await xhrOnce(method, url, headers, body, onSent);
			if (r.status !== 401)
				return r;
			await askKey(keyMessage(r.status, r.text));
		}
	}

	/* --- the banner: the server is unreachable or answers errors ------------------- */

	const problems = new Map();
	function problem(source, text) {
		if (text)
			problems.set(source, text);
		else
			problems.delete(source);
		const b = $('banner');
		b.hidden = problems.size === 0;
		setText(b, [...problems.values()].join(' '));
	}

	/* A loop that runs fn, then again POLL_MS after it finished. */
	function poll(name, fn) {
		const tick = async () => {
			try {
				await fn();
				problem(name, null);
			} catch (e) {
				problem(name, `${name}: ${e.message}; retrying.`);
			}
			setTimeout(tick, POLL_MS);
		};
		tick();
	}

	/* --- datasets ---------------------------------------------------------------- */

	async function loadDatasets() {
		const r = await apiJSON('GET', '/v1/datasets');
		if (!r.ok)
			throw new Error('datasets: ' + errorText(r.status, r.text));
		const sel = $('upload-dataset');
		const had = sel.value;
		sel.replaceChildren(...r.data.datasets.map((d) => el('option', { value: d.name }, `${d.name} (${d.table})`)));
		if (had && r.data.datasets.some((d) => d.name === had))
			sel.value = had;
	}

	/* --- jobs list ----------------------------------------------------------------- */

	const jobRows = new Map(); /* job id -> <tr> */

	function jobRow(id) {
		let tr = jobRows.get(id);
		if (tr)
			return tr;
		tr = el('tr', { 'data-job-id': id, 'data-testid': 'job-row' });
		const link = el('a', { href: '#/jobs/' + encodeURIComponent(id), 'data-testid': 'job-link' }, id);
		const cells = [
			['td', {}, link],
			['td', { 'data-testid': 'dataset' }],
			['td', {}, el('span', { class: 'status', 'data-testid': 'status' })],
			['td', { class: 'progress' }, el('progress', { 'data-testid': 'progress', 'aria-label': 'progress of ' + id })],
			['td', { class: 'num', 'data-testid': 'rows-read' }],
			['td', { class: 'num', 'data-testid': 'rows-loaded' }],
			['td', { class: 'num', 'data-testid': 'rows-rejected' }],
			['td', { class: 'num', 'data-testid': 'rows-per-s' }],
			['td', { class: 'num', 'data-testid': 'eta-s' }],
			['td', { 'data-testid': 'created' }],
		];
		for (const [tag, attrs, child] of cells) {
			const td = el(tag, attrs);
			if (child)
				td.append(child);
			tr.append(td);
		}
		jobRows.set(id, tr);
		return tr;
	}

	function setProgress(p, done, total) {
		if (total > 0) {
			setAttr(p, 'max', total);
			setAttr(p, 'value', Math.min(done, total));
			setAttr(p, 'title', `${done} of ${total} bytes`);
		} else {
			p.removeAttribute('value'); /* indeterminate */
		}
	}

	function fillJobRow(tr, j) {
		const q = (t) => tr.querySelector(`[data-testid="${t}"]`);
		setText(q('dataset'), j.dataset);
		const st = q('status');
		setText(st, j.status);
		setAttr(st, 'data-status', j.status);
		setProgress(q('progress'), j.bytes_done || 0, totalBytes(j));
		setText(q('rows-read'), j.rows_read);
		setText(q('rows-loaded'), j.rows_loaded);
		setText(q('rows-rejected'), j.rows_rejected);
		setText(q('rows-per-s'), j.rows_per_s);
		setText(q('eta-s'), j.eta_s);
		setText(q('created'), when(j.created_ms));
		setAttr(tr, 'aria-current', view.id === j.job_id || view.id === j.upload_id ? 'true' : 'false');
	}

	async function refreshJobs() {
		const r = await apiJSON('GET', '/v1/jobs?limit=50');
		if (!r.ok)
			throw new Error(errorText(r.status, r.text));
		const body = $('jobs-body');
		const seen = new Set();
		r.data.jobs.forEach((j, i) => {
			const id = j.job_id || j.upload_id;
			seen.add(id);
			const tr = jobRow(id);
			fillJobRow(tr, j);
			if (body.children[i] !== tr)
				body.insertBefore(tr, body.children[i] || null);
		});
		for (const [id, tr] of jobRows)
			if (!seen.has(id)) {
				tr.remove();
				jobRows.delete(id);
			}
		$('jobs-empty').hidden = r.data.jobs.length > 0;
		setText($('jobs-updated'), 'updated ' + new Date().toLocaleTimeString());
	}

	/* --- job view ------------------------------------------------------------------ */

	/* [label, field or function of the job, data-testid] */
	const COUNTERS = [
		['Rows read', 'rows_read', 'rows-read'],
		['Rows loaded', 'rows_loaded', 'rows-loaded'],
		['Rows rejected', 'rows_rejected', 'rows-rejected'],
		['Rejects open', 'rejects_open', 'rejects-open'],
		['Refeed of', 'refeed_of', 'refeed-of'],
		['Bytes done', 'bytes_done', 'bytes-done'],
		['Bytes', totalBytes, 'bytes-total'],
		['Chunks', 'chunks_total', 'chunks-total'],
		['Chunks processed', 'chunks_processed', 'chunks-processed'],
		['Chunks succeeded', 'chunks_succeeded', 'chunks-succeeded'],
		['Chunks failed', 'chunks_failed', 'chunks-failed'],
		['Rows/s', 'rows_per_s', 'rows-per-s'],
		['ETA s', 'eta_s', 'eta-s'],
		['Dataset', 'dataset', 'dataset'],
		['Upload id', 'upload_id', 'upload-id'],
		['Correlation id', 'correlation_id', 'correlation-id'],
		['Created', (j) => when(j.created_ms), 'created'],
		['Started', (j) => when(j.started_ms), 'started'],
		['Finished', (j) => when(j.finished_ms), 'finished'],
	];
	for (const [label, , id] of COUNTERS) {
		const d = el('div');
		d.append(el('dt', {}, label), el('dd', { 'data-testid': id }, '—'));
		$('job-counters').append(d);
	}
	for (const s of CHUNK_STATUSES) {
		const li = el('li', { 'data-status': s });
		li.append(el('span', { class: 'swatch', 'aria-hidden': 'true' }), `${s} `,
			el('span', { 'data-testid': 'chunks-' + s }, '0'));
		$('chunk-legend').append(li);
	}

	/* the job shown: the id from the URL (#/jobs/ID), a job or an upload id */
	const view = { id: null, job: null, finalChunks: false, gen: 0 };

	function renderJob(j) {
		view.job = j;
		setText($('job-id'), j.job_id || j.upload_id);
		const st = $('job-status');
		setText(st, j.status);
		setAttr(st, 'data-status', j.status);
		const err = $('job-error');
		err.hidden = !j.error;
		if (j.error)
			setText(err, `${j.error.code}: ${j.error.message}`);
		setProgress($('job-progress'), j.bytes_done || 0, totalBytes(j));
		for (const [, f, id] of COUNTERS)
			setText(document.querySelector(`#job-counters [data-testid="${id}"]`), typeof f === 'function' ? f(j) : j[f]);
		const codes = Object.entries(j.rejects_by_code || {});
		const body = $('codes-body');
		const key = JSON.stringify(codes);
		if (body.dataset.key !== key) {
			body.dataset.key = key;
			body.replaceChildren(...codes.map(([code, n]) => {
				const tr = el('tr', { 'data-code': code });
				const name = el('td');
				name.append(el('code', {}, code));
				tr.append(name, el('td', { 'data-testid': 'code-count' }, String(n)));
				return tr;
			}));
		}
		$('codes-none').hidden = codes.length > 0;
		const final = FINAL.has(j.status);
		$('cancel').disabled = final;
		$('retry').disabled = !final;
		/* a refeed takes the rows no refeed has loaded: none, nothing to do */
		$('refeed').disabled = !final || j.status === 'RolledBack' || !(j.rejects_open > 0);
		$('errors-download').disabled = !j.job_id;
	}

	function renderChunks(chunks) {
		const grid = $('chunk-grid');
		while (grid.children.length > chunks.length)
			grid.lastChild.remove();
		const counts = Object.fromEntries(CHUNK_STATUSES.map((s) => [s, 0]));
		chunks.forEach((c, i) => {
			let li = grid.children[i];
			if (!li) {
				li = el('li', { 'data-testid': 'chunk' });
				grid.append(li);
			}
			counts[c.status] = (counts[c.status] || 0) + 1;
			setAttr(li, 'data-status', c.status);
			setAttr(li, 'data-seq', c.seq);
			const tip = `chunk ${c.seq}: ${c.status}, ${c.rows_read} rows read, ${c.rows_loaded} loaded, ` +
				`${c.rows_rejected} rejected, ${c.attempts} attempt(s)` + (c.last_error ? `, ${c.last_error}: ${c.last_message}` : '');
			setAttr(li, 'title', tip);
			setAttr(li, 'aria-label', tip);
		});
		for (const s of CHUNK_STATUSES)
			setText(document.querySelector(`[data-testid="chunks-${s}"]`), counts[s]);
	}

	async function refreshJob() {
		if (!view.id)
			return;
		const gen = view.gen;
		const id = encodeURIComponent(view.id);
		const r = await apiJSON('GET', '/v1/jobs/' + id);
		if (gen !== view.gen)
			return; /* another job was opened meanwhile */
		if (!r.ok) {
			$('job-error').hidden = false;
			setText($('job-error'), errorText(r.status, r.text));
			return;
		}
		renderJob(r.data);
		/* chunks while the job runs, then once more for their final state */
		if (!r.data.job_id || view.finalChunks)
			return;
		const final = FINAL.has(r.data.status);
		const c = await apiJSON('GET', `/v1/jobs/${id}/chunks`);
		if (gen !== view.gen || !c.ok)
			return;
		renderChunks(c.data.chunks);
		view.finalChunks = final;
	}

	function openFromHash() {
		const m = /^#\/jobs\/([^/]+)$/.exec(location.hash);
		const id = m ? decodeURIComponent(m[1]) : null;
		if (id === view.id)
			return;
		Object.assign(view, { id, job: null, finalChunks: false, gen: view.gen + 1 });
		$('job-view').hidden = !id;
		$('chunk-grid').replaceChildren();
		$('codes-body').replaceChildren();
		delete $('codes-body').dataset.key;
		setText($('action-result'), '');
		$('errors-link').hidden = true;
		$('job-error').hidden = true;
		for (const tr of jobRows.values())
			setAttr(tr, 'aria-current', tr.dataset.jobId === id ? 'true' : 'false');
		if (id) {
			setText($('job-id'), id);
			setText($('job-status'), '…');
			$('job-view').scrollIntoView({ block: 'nearest' });
			refreshJob().catch(() => {});
		}
	}
	window.addEventListener('hashchange', openFromHash);

	/* POST an action and show the API's answer as it came. */
	async function action(name) {
		if (!view.id)
			return;
		const btn = $(name);
		btn.disabled = true;
		try {
			const r = await apiJSON('POST', `/v1/jobs/${encodeURIComponent(view.id)}/${name}`);
			setText($('action-result'), r.ok ? `${name}: ${r.status} ${r.text.trim()}` : `${name}: ${errorText(r.status, r.text)}`);
			setAttr($('action-result'), 'data-status', r.status);
			view.finalChunks = false; /* the chunks may change again */
		} catch (e) {
			setText($('action-result'), `${name}: ${e.message}`);
		} finally {
			btn.disabled = false;
		}
	}
	$('retry').onclick = () => action('retry');
	$('refeed').onclick = () => action('refeed');
	$('cancel').onclick = () => action('cancel');

	/* The rejected rows need the Authorization header, which a plain link
	   cannot send: fetch them, then save them through a Blob URL. */
	let blobUrl = null;
	$('errors-download').onclick = async () => {
		const j = view.job;
		if (!j || !j.job_id)
			return;
		const btn = $('errors-download');
		btn.disabled = true;
		try {
			const res = await api('GET', `/v1/jobs/${encodeURIComponent(j.job_id)}/errors?format=csv`);
			if (!res.ok)
				throw new Error(errorText(res.status, await res.text()));
			const blob = await res.blob();
			if (blobUrl)
				URL.revokeObjectURL(blobUrl);
			blobUrl = URL.createObjectURL(blob);
			const a = $('errors-link');
			a.href = blobUrl;
			a.download = `rejects-${j.job_id}.csv`;
			setText(a, `Save rejects-${j.job_id}.csv again (${blob.size} bytes)`);
			a.hidden = false;
			a.click();
		} catch (e) {
			setText($('action-result'), 'download: ' + e.message);
		} finally {
			btn.disabled = false;
		}
	};

	/* --- uploads ------------------------------------------------------------------ */

	function b64(s) {
		const bytes = new TextEncoder().encode(s);
		let bin = '';
		for (const b of bytes)
			bin += String.fromCharCode(b);
		return btoa(bin);
	}
	const TUS = { 'Tus-Resumable': '1.0.0' };
	const offsetOf = (r) => {
		const v = r.header('Upload-Offset');
		return v !== null && /^\d+$/.test(v) ? Number(v) : null;
	};

	/* tus 1.0: create, then PATCH pieces; after a failed PATCH ask the server
	   for its offset (HEAD) and go on from there. The upload URL is kept in
	   localStorage under the file's fingerprint, so choosing the same file
	   again after a reload or a lost connection resumes it. Returns null when
	   the server has no tus endpoint (404, 501). */
	async function tusUpload(file, dataset, progress) {
		const fp = TUS_STORE + [dataset, file.name, file.size, file.lastModified].join(':');
		let url = localStorage.getItem(fp);
		let offset = 0;
		let jobId = null;
		if (url) {
			const h = await xhr('HEAD', url, TUS).catch(() => null);
			const o = h && h.status >= 200 && h.status < 300 ? offsetOf(h) : null;
			if (o === null) {
				localStorage.removeItem(fp);
				url = null;
			} else {
				offset = o;
				progress(offset, file.size, 'resuming');
			}
		}
		if (!url) {
			const r = await xhr('POST', '/v1/tus/', {
				...TUS,
				'Upload-Length': String(file.size),
				'Upload-Metadata': `dataset ${b64(dataset)},filename ${b64(file.name)}`,
			});
			if (r.status === 404 || r.status === 501)
				return null;
			if (r.status !== 201 || !r.header('Location'))
				throw new Error('tus: ' + errorText(r.status, r.text));
			url = new URL(r.header('Location'), new URL('/v1/tus/', location.href)).pathname;
			localStorage.setItem(fp, url);
		}
		let failures = 0;
		while (offset < file.size) {
			const end = Math.min(offset + TUS_PIECE, file.size);
			const at = offset;
			const r = await xhr('PATCH', url, {
				...TUS,
				'Upload-Offset': String(offset),
				'Content-Type': 'application/offset+octet-stream',
			}, file.slice(offset, end), (sent) => progress(at + sent, file.size)).catch(() => null);
			if (r && r.status === 204 && offsetOf(r) !== null) {
				offset = offsetOf(r);
				jobId = r.header('X-Job-Id') || jobId;
				failures = 0;
				progress(offset, file.size);
				continue;
			}
			/* 4xx other than a conflict will not get better by trying again */
			if (r && r.status >= 400 && r.status < 500 && r.status !== 409 && r.status !== 423 && r.status !== 429) {
				if (r.status === 404 || r.status === 410)
					localStorage.removeItem(fp);
				throw new Error('tus: ' + errorText(r.status, r.text));
			}
			if (++failures > TUS_RETRIES)
				throw new Error('tus: ' + (r ? errorText(r.status, r.text) : 'network error') + '; giving up');
			progress(offset, file.size, `retrying (${failures}/${TUS_RETRIES})`);
			await sleep(500 * 2 ** (failures - 1));
			const h = await xhr('HEAD', url, TUS).catch(() => null);
			if (h && h.status >= 200 && h.status < 300 && offsetOf(h) !== null) {
				offset = offsetOf(h);
				jobId = h.header('X-Job-Id') || jobId;
			}
		}
		localStorage.removeItem(fp);
		return { jobId, method: 'tus' };
	}

	/* The whole file as the raw body of one request: not resumable. */
	async function plainUpload(file, dataset, progress) {
		const r = await xhr('POST', `/v1/datasets/${encodeURIComponent(dataset)}/uploads`,
			{ 'Content-Type': 'application/octet-stream' }, file, (sent) => progress(sent, file.size));
		if (r.status !== 202 && r.status !== 200)
			throw new Error(errorText(r.status, r.text));
		progress(file.size, file.size);
		return { jobId: JSON.parse(r.text).job_id, method: 'plain' };
	}

	$('upload-form').onsubmit = async (ev) => {
		ev.preventDefault();
		const file = $('upload-file').files[0];
		const dataset = $('upload-dataset').value;
		const bar = $('upload-progress');
		const status = $('upload-status');
		const link = $('upload-job');
		if (!file || !dataset)
			return;
		if (!file.size) {
			setText(status, 'The file is empty.');
			return;
		}
		$('upload-submit').disabled = true;
		link.hidden = true;
		setAttr(bar, 'max', file.size);
		setAttr(bar, 'value', 0);
		setText($('upload-method'), '');
		const progress = (done, total, note) => {
			setAttr(bar, 'value', done);
			setText($('upload-bytes'), `${done} / ${total} bytes`);
			setText(status, note ? `Uploading ${file.name}: ${note}…` : `Uploading ${file.name}…`);
		};
		try {
			progress(0, file.size);
			let res = await tusUpload(file, dataset, progress);
			if (!res) {
				setText($('upload-method'), 'tus unavailable: plain upload');
				res = await plainUpload(file, dataset, progress);
			}
			setAttr(bar, 'value', file.size);
			setText($('upload-method'), `via ${res.method}`);
			setAttr($('upload-method'), 'data-method', res.method);
			if (res.jobId) {
				setText(status, `Uploaded ${file.name}: job`);
				link.href = '#/jobs/' + encodeURIComponent(res.jobId);
				setText(link, res.jobId);
				link.hidden = false;
				location.hash = '#/jobs/' + encodeURIComponent(res.jobId);
			} else {
				setText(status, `Uploaded ${file.name}; its job will appear in the list.`);
			}
		} catch (e) {
			setText(status, `Upload failed: ${e.message}`);
		} finally {
			$('upload-submit').disabled = false;
		}
	};

	/* --- start ------------------------------------------------------------------- */

	showKeyState();
	openFromHash();
	poll('datasets', async () => {
		if (!$('upload-dataset').options.length)
			await loadDatasets();
	});
	poll('jobs', refreshJobs);
	poll('job', refreshJob);
})();

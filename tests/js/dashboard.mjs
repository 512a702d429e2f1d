/*
 * The dashboard in a real browser (headless Chromium through playwright-core),
 * against a running `sluice serve` started with an API key by
 * tests/http/test_dashboard.sh. The page is used as a person would: it asks
 * for the key (a wrong one first, which must be refused), a generated file
 * is uploaded through its form, the job view is watched until the job ends,
 * and then everything the page shows is compared with what the API answers:
 * row counts, counts by error code, the chunk grid (one cell per chunk, all
 * drawn in the "succeeded" colour), the jobs list, and the downloaded
 * rejected rows. Any Content-Security-Policy violation or script error in
 * the page fails the test, so the policy and the page cannot drift apart.
 *
 * The upload goes through the page's tus client, and the test breaks it on
 * the way: the second PATCH reaches the server but its answer is cut off,
 * so the page must ask the server for the offset (HEAD) and go on from
 * there. A second, small file is then uploaded with the tus endpoint made
 * to answer 501, so the page falls back to the plain upload route.
 *
 * Usage: node dashboard.mjs BASE_URL API_KEY CSV_FILE SMALL_CSV_FILE
 * Exit status 0 when every check passed.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { chromium } from 'playwright-core';

const [base, key, csvPath, smallPath] = process.argv.slice(2);
if (!base || !key || !csvPath || !smallPath) {
	console.error('usage: node dashboard.mjs BASE_URL API_KEY CSV_FILE SMALL_CSV_FILE');
	process.exit(2);
}
const FINAL = ['Succeeded', 'PartiallySucceeded', 'Failed', 'RolledBack', 'Cancelled'];
const tid = (id) => `[data-testid="${id}"]`;

let pass = 0;
let fail = 0;
function check(what, got, want) {
	if (JSON.stringify(got) === JSON.stringify(want)) {
		pass++;
	} else {
		fail++;
		console.log(`FAIL: ${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
	}
}
function ok(what, cond, detail = '') {
	check(what + (detail ? ` (${detail})` : ''), !!cond, true);
}

async function apiGet(path) {
	const res = await fetch(base + path, { headers: { Authorization: 'Bearer ' + key } });
	if (!res.ok)
		throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
	return res;
}

/* Records in a CSV text (quoted fields may hold line breaks). */
function csvRecords(text) {
	let n = 0;
	let quoted = false;
	let inRecord = false;
	for (let i = 0; i < text.length; i++) {
		const c = text[i];
		inRecord = true;
		if (c === '"')
			quoted = !quoted; /* "" toggles twice: stays in the field */
		else if (c === '\n' && !quoted) {
			n++;
			inRecord = false;
		}
	}
	return n + (inRecord ? 1 : 0);
}

/* Poll fn until it returns a truthy value or the time is up. */
async function waitFor(what, fn, ms) {
	const end = Date.now() + ms;
	let last;
	for (;;) {
		last = await fn();
		if (last)
			return last;
		if (Date.now() > end)
			throw new Error(`timed out after ${ms} ms waiting for ${what}`);
		await new Promise((r) => setTimeout(r, 200));
	}
}

const browser = await chromium.launch({
	executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
	args: ['--no-sandbox', '--headless=new', '--disable-dev-shm-usage'],
});
const pageProblems = [];
try {
	const context = await browser.newContext({ acceptDownloads: true });
	const page = await context.newPage();
	page.on('pageerror', (e) => pageProblems.push('page error: ' + e.message));
	page.on('console', (m) => {
		/* Chromium logs every failed or non-2xx request ("Failed to load
		   resource"): the 401s, the cut tus answer and the 501 are the
		   test's own doing; script errors and CSP refusals are not */
		if (m.type() === 'error' && !/^Failed to load resource: /.test(m.text()))
			pageProblems.push('console: ' + m.text());
	});

	/* --- the page itself: headers, then the key prompt ------------------------ */
	const resp = await page.goto(base + '/');
	check('GET / status', resp.status(), 200);
	const h = resp.headers();
	check('GET / content type', h['content-type'], 'text/html; charset=utf-8');
	const csp = h['content-security-policy'] || '';
	ok('CSP: no unsafe-inline, script by hash', /script-src 'sha256-[A-Za-z0-9+/=]+'/.test(csp) && !csp.includes('unsafe'), csp);
	ok('CSP: default-src none', csp.startsWith("default-src 'none'"), csp);

	await page.waitForSelector(tid('api-key-form'), { state: 'visible', timeout: 10000 });
	ok('key prompt says a key is needed', /needs an API key/.test(await page.textContent(tid('api-key-message'))));
	await page.fill(tid('api-key-input'), 'not-' + key);
	await page.click(tid('api-key-save'));
	await waitFor('the wrong key to be refused', async () =>
		(await page.isVisible(tid('api-key-form'))) &&
		/refused/.test(await page.textContent(tid('api-key-message'))), 10000);
	pass++;
	await page.fill(tid('api-key-input'), key);
	await page.click(tid('api-key-save'));
	await page.waitForSelector(tid('api-key-form'), { state: 'hidden', timeout: 10000 });
	await page.waitForSelector(`${tid('upload-dataset')} option[value="cdr"]`, { state: 'attached', timeout: 10000 });
	check('key kept in localStorage', await page.evaluate(() => localStorage.getItem('sluice.apiKey')), key);

	/* --- upload through the form, with a lost answer ------------------------ */
	const size = readFileSync(csvPath).length;
	const tusSeen = { POST: 0, PATCH: 0, HEAD: 0, cut: 0 };
	await page.route(/\/v1\/tus\//, async (route) => {
		const m = route.request().method();
		tusSeen[m] = (tusSeen[m] || 0) + 1;
		if (m === 'PATCH' && tusSeen.PATCH === 2) {
			/* the server takes the piece, the browser never hears of it */
			await route.fetch();
			tusSeen.cut++;
			return route.abort('connectionreset');
		}
		return route.continue();
	});
	await page.selectOption(tid('upload-dataset'), 'cdr');
	await page.setInputFiles(tid('upload-file'), csvPath);
	await page.click(tid('upload-submit'));
	await page.waitForSelector(tid('upload-job-id'), { state: 'visible', timeout: 120000 });
	const upload = await page.evaluate(() => {
		const bar = document.getElementById('upload-progress');
		return {
			value: Number(bar.getAttribute('value')), max: Number(bar.getAttribute('max')),
			method: document.getElementById('upload-method').dataset.method,
			id: document.getElementById('upload-job').textContent,
			status: document.getElementById('upload-status').textContent,
		};
	});
	console.log(`uploaded ${basename(csvPath)} (${size} bytes) via ${upload.method}: ${upload.id}`);
	check('upload progress bar full', [upload.value, upload.max], [size, size]);
	/* the server speaks tus: a fall back to the plain upload here is a failure */
	check('upload method: tus', upload.method, 'tus');
	ok('upload status says uploaded', upload.status.startsWith('Uploaded'), upload.status);
	check('job view opened for the upload', await page.evaluate(() => location.hash), '#/jobs/' + upload.id);
	await page.unroute(/\/v1\/tus\//);
	{ /* always: the method is tus (checked above) */
		check('tus: one PATCH answer was cut off', tusSeen.cut, 1);
		ok('tus: the page asked for the offset after it', tusSeen.HEAD >= 1, JSON.stringify(tusSeen));
		/* 4 MiB pieces, none sent twice: the HEAD told where to go on */
		check('tus: PATCHes', tusSeen.PATCH, Math.ceil(size / (4 << 20)));
	}

	/* --- watch the job finish --------------------------------------------------- */
	await page.waitForSelector(tid('job-view'), { state: 'visible' });
	const status = await waitFor('the job to finish in the page', async () => {
		const s = await page.textContent(tid('job-status'));
		return FINAL.includes(s) ? s : null;
	}, 180000);
	ok('job ended well', status === 'Succeeded' || status === 'PartiallySucceeded', status);

	const job = await (await apiGet('/v1/jobs/' + encodeURIComponent(upload.id))).json();
	check('API and page agree on the status', status, job.status);
	ok('the API names a real job', /^j/.test(job.job_id || ''), job.job_id);
	check('the job is the uploaded file', job.bytes, size);

	/* The page shows the API's numbers as given; a poll may still be a
	   second behind, so wait until the last chunks fetch landed. */
	const shown = () => page.evaluate(() => {
		const q = (id) => document.querySelector(`#job-counters [data-testid="${id}"]`).textContent;
		const codes = {};
		for (const tr of document.querySelectorAll('#codes-body tr[data-code]'))
			codes[tr.dataset.code] = Number(tr.querySelector('[data-testid="code-count"]').textContent);
		const cells = [...document.querySelectorAll('#chunk-grid [data-testid="chunk"]')];
		const swatch = (s) => getComputedStyle(document.querySelector(`#chunk-legend [data-status="${s}"] .swatch`)).backgroundColor;
		return {
			id: document.querySelector('[data-testid="job-id"]').textContent,
			rows_read: q('rows-read'), rows_loaded: q('rows-loaded'), rows_rejected: q('rows-rejected'),
			bytes_done: q('bytes-done'), bytes: q('bytes-total'), chunks_total: q('chunks-total'),
			chunks_succeeded: q('chunks-succeeded'), chunks_failed: q('chunks-failed'),
			codes,
			cells: cells.length,
			cellStatuses: [...new Set(cells.map((c) => c.dataset.status))],
			cellColours: [...new Set(cells.map((c) => getComputedStyle(c).backgroundColor))],
			succeededColour: swatch('Succeeded'), queuedColour: swatch('Queued'), failedColour: swatch('Failed'),
			legendSucceeded: document.querySelector('[data-testid="chunks-Succeeded"]').textContent,
		};
	});
	const v = await waitFor('the chunk grid to be complete', async () => {
		const s = await shown();
		return s.cells === job.chunks_total && s.cellStatuses.join() === 'Succeeded' ? s : null;
	}, 10000).catch(async (e) => {
		console.log(e.message);
		return shown();
	});
	check('job id shown', v.id, job.job_id);
	for (const f of ['rows_read', 'rows_loaded', 'rows_rejected', 'bytes_done', 'bytes', 'chunks_total',
		'chunks_succeeded', 'chunks_failed'])
		check(`page ${f} = API`, v[f], String(job[f]));
	check('rows rejected by code = API', v.codes, job.rejects_by_code);
	ok('some rows were rejected (the file has defects)', job.rows_rejected > 0, String(job.rows_rejected));
	ok('several chunks', job.chunks_total > 1, String(job.chunks_total));
	check('chunk cells = chunks_total', v.cells, job.chunks_total);
	check('every chunk cell is Succeeded', v.cellStatuses, ['Succeeded']);
	check('every chunk cell is drawn in the succeeded colour', v.cellColours, [v.succeededColour]);
	ok('succeeded, queued and failed colours differ',
		new Set([v.succeededColour, v.queuedColour, v.failedColour]).size === 3,
		[v.succeededColour, v.queuedColour, v.failedColour].join(' '));
	check('legend: succeeded chunks', v.legendSucceeded, String(job.chunks_total));

	const chunks = (await (await apiGet(`/v1/jobs/${job.job_id}/chunks`)).json()).chunks;
	check('API chunks = chunks_total', chunks.length, job.chunks_total);

	/* --- the jobs list ------------------------------------------------------------ */
	const row = `tr[data-job-id="${job.job_id}"]`;
	await page.waitForSelector(`${row} [data-testid="status"]:text("${job.status}")`, { timeout: 10000 });
	const listed = await page.evaluate((sel) => {
		const tr = document.querySelector(sel);
		const t = (id) => tr.querySelector(`[data-testid="${id}"]`).textContent;
		const bar = tr.querySelector('progress');
		return {
			status: t('status'), rows_read: t('rows-read'), rows_loaded: t('rows-loaded'),
			rows_rejected: t('rows-rejected'), dataset: t('dataset'),
			bar: [bar.getAttribute('value'), bar.getAttribute('max')],
		};
	}, row);
	check('jobs list row = API', listed, {
		status: job.status, rows_read: String(job.rows_read), rows_loaded: String(job.rows_loaded),
		rows_rejected: String(job.rows_rejected), dataset: 'cdr', bar: [String(size), String(size)],
	});

	/* --- download of the rejected rows ---------------------------------------- */
	const [download] = await Promise.all([
		page.waitForEvent('download', { timeout: 30000 }),
		page.click(tid('errors-download')),
	]);
	check('download file name', download.suggestedFilename(), `rejects-${job.job_id}.csv`);
	const got = readFileSync(await download.path(), 'utf8');
	const want = await (await apiGet(`/v1/jobs/${job.job_id}/errors?format=csv`)).text();
	check('download: header', got.split('\n')[0], 'record,line,offset,chunk,column,code,message,raw');
	check('download: one record per rejected row + header', csvRecords(got), job.rows_rejected + 1);
	check('download: lines', got.split('\n').filter((l) => l).length, want.split('\n').filter((l) => l).length);
	ok('download = the API\'s errors CSV', got === want, `${got.length} vs ${want.length} bytes`);
	ok('blob link stays for saving again', await page.isVisible(tid('errors-link')));

	/* --- no tus on the server: the page falls back to the plain upload ------- */
	await page.route(/\/v1\/tus\/$/, (route) => route.fulfill({
		status: 501, contentType: 'application/json',
		body: '{"error":{"code":"NOT_IMPLEMENTED","message":"tus uploads are not implemented"}}',
	}));
	const smallSize = readFileSync(smallPath).length;
	await page.setInputFiles(tid('upload-file'), smallPath);
	await page.click(tid('upload-submit'));
	const plain = await waitFor('the plain upload', () => page.evaluate(() => {
		const m = document.getElementById('upload-method').dataset.method;
		const a = document.getElementById('upload-job');
		return m && !a.hidden && a.textContent ? { method: m, id: a.textContent } : null;
	}), 60000);
	await page.unroute(/\/v1\/tus\/$/);
	check('fallback: plain upload used', plain.method, 'plain');
	const smallStatus = await waitFor('the small job to finish', async () => {
		const s = await page.textContent(tid('job-status'));
		return FINAL.includes(s) && (await page.textContent(tid('job-id'))).startsWith('j') ? s : null;
	}, 120000);
	const small = await (await apiGet('/v1/jobs/' + encodeURIComponent(plain.id))).json();
	check('fallback: status = API', smallStatus, small.status);
	check('fallback: bytes = the file', small.bytes, smallSize);
	const smallShown = await page.evaluate(() => Object.fromEntries(['rows-read', 'rows-loaded', 'rows-rejected']
		.map((id) => [id, document.querySelector(`#job-counters [data-testid="${id}"]`).textContent])));
	check('fallback: rows = API', smallShown, {
		'rows-read': String(small.rows_read), 'rows-loaded': String(small.rows_loaded),
		'rows-rejected': String(small.rows_rejected),
	});
	await page.evaluate((id) => { location.hash = '#/jobs/' + id; }, job.job_id);

	/* --- the key is remembered: a reload asks for nothing ---------------------- */
	await page.reload();
	await page.waitForSelector(`${row} [data-testid="status"]:text("${job.status}")`, { timeout: 10000 });
	ok('no key prompt after a reload', !(await page.isVisible(tid('api-key-form'))));
	check('job view reopened from the URL', await page.textContent(tid('job-id')), job.job_id);

	/* --- cancel and retry show the API's answer -------------------------------- */
	/* the job is finished: cancel is disabled, retry runs and shows an HTTP
	   status from the API (202, or 409 when it does not apply) */
	await waitFor('the job view to load', async () =>
		FINAL.includes(await page.textContent(tid('job-status'))), 10000);
	ok('cancel disabled on a finished job', await page.isDisabled(tid('cancel')));
	await page.click(tid('retry'));
	const answer = await waitFor('the retry answer', async () => {
		const t = await page.textContent(tid('action-result'));
		return t ? t : null;
	}, 10000);
	ok('retry answer shows an HTTP status', /^retry: (2\d\d|4\d\d) /.test(answer), answer);
	console.log('retry answered: ' + answer.slice(0, 160));

	/* --- refeed: the job's open rejected rows as a new job ---------------------- */
	/* through the dataset's schema as it is (unchanged): the rows are read
	   again and rejected again, the new job names the first (refeed_of), and
	   the first job's open rejects stay as they were */
	const before = await (await apiGet('/v1/jobs/' + job.job_id)).json();
	await waitFor('the counters to show the open rejects', async () =>
		(await page.textContent('#job-counters [data-testid="rejects-open"]')) === String(before.rejects_open), 10000);
	ok('refeed enabled on a finished job with open rejects', before.rejects_open > 0 && !(await page.isDisabled(tid('refeed'))));
	await page.evaluate(() => { document.querySelector('[data-testid="action-result"]').textContent = ''; });
	await page.click(tid('refeed'));
	const refed = await waitFor('the refeed answer', async () => {
		const t = await page.textContent(tid('action-result'));
		return t && t.startsWith('refeed:') ? t : null;
	}, 10000);
	ok('refeed answer: 202 with a job id', /^refeed: 202 \{"job_id":"j/.test(refed), refed);
	const newId = (/"job_id":"([^"]+)"/.exec(refed) || [])[1];
	const rj = await waitFor('the refeed job to finish', async () => {
		const j = await (await apiGet('/v1/jobs/' + newId)).json();
		return FINAL.includes(j.status) ? j : null;
	}, 30000);
	check('the refeed job names the first', rj.refeed_of, job.job_id);
	ok('the refeed job read the open rejects', rj.rows_read > 0 && rj.rows_read <= before.rejects_open,
		`${rj.rows_read} of ${before.rejects_open}`);
	const after = await (await apiGet('/v1/jobs/' + job.job_id)).json();
	check('the unchanged schema resolved nothing', after.rejects_open, before.rejects_open - rj.rows_loaded);
	await page.evaluate((id) => { location.hash = '#/jobs/' + id; }, newId);
	await waitFor('the refeed job in the view', async () =>
		(await page.textContent('#job-counters [data-testid="refeed-of"]')) === job.job_id, 10000);
	ok('the view shows what the refeed job refed', true);

	/* --- what the page ran into --------------------------------------------------- */
	check('no script errors or CSP violations in the page', pageProblems, []);
} catch (e) {
	fail++;
	console.log('FAIL: ' + (e.stack || e.message));
	if (pageProblems.length)
		console.log('page problems: ' + pageProblems.join('\n'));
} finally {
	await browser.close();
}
console.log(`dashboard: ${pass} passed, ${fail} failed`);
process.exit(fail ? 1 : 0);

// Uploads a file to `sluice serve` with the real tus client (tus-js-client),
// for tests/http/test_tus.sh. Prints one JSON line on stdout.
//
// Usage: node tus_upload.mjs MODE ENDPOINT FILE [URL_STORE]
//   whole      upload the file in 1 MiB PATCH requests: {"url","job","patches"}
//   interrupt  one PATCH for the whole file, sent slowly, aborted once 40 % of
//              it went out: {"url","sent"}; the URL is kept in URL_STORE
//              (tus.FileUrlStorage) so that a later run can find it
//   resume     find the upload URL_STORE remembers for this file
//              (findPreviousUploads) and finish it: {"url","job","resumed_from"}
// SLUICE_KEY, when set, is sent as Authorization: Bearer KEY.
import * as fs from 'node:fs';
import { Readable } from 'node:stream';
import * as tus from 'tus-js-client';

const [mode, endpoint, file, store] = process.argv.slice(2);
if (!mode || !endpoint || !file) {
	console.error('usage: node tus_upload.mjs whole|interrupt|resume ENDPOINT FILE [URL_STORE]');
	process.exit(2);
}
const data = fs.readFileSync(file);
const headers = process.env.SLUICE_KEY ? { Authorization: `Bearer ${process.env.SLUICE_KEY}` } : {};

// A PATCH body that trickles out (64 KiB every 20 ms), so that the client
// can be stopped in the middle of one request whatever the machine's speed.
class SlowStack {
	constructor() {
		this.inner = new tus.DefaultHttpStack();
	}
	getName() {
		return 'SlowStack';
	}
	createRequest(method, url) {
		const req = this.inner.createRequest(method, url);
		const send = req.send.bind(req);
		req.send = (body) => {
			if (method !== 'PATCH' || !(body instanceof Uint8Array)) return send(body);
			let pos = 0;
			const slow = new Readable({
				read() {
					if (pos >= body.length) {
						this.push(null);
						return;
					}
					const piece = body.subarray(pos, pos + 65536);
					pos += piece.length;
					setTimeout(() => this.push(piece), 20);
				},
			});
			slow.size = body.length; // keeps Content-Length (not chunked)
			return send(slow);
		};
		return req;
	}
}

function options(extra) {
	return {
		endpoint,
		headers,
		metadata: { dataset: 'cdr', filename: 'calls "2024".csv' },
		retryDelays: null,
		...extra,
	};
}

function fail(err) {
	console.error(`tus: ${err && err.message ? err.message : err}`);
	process.exit(1);
}

// Every answer of the server is checked for Tus-Resumable on the way.
let missingTusResumable = 0;
function watch(state) {
	return (req, res) => {
		if (res.getHeader('Tus-Resumable') !== '1.0.0') missingTusResumable++;
		if (req.getMethod() === 'PATCH') state.patches++;
		if (req.getMethod() === 'HEAD' && state.resumedFrom === null)
			state.resumedFrom = Number(res.getHeader('Upload-Offset'));
		const job = res.getHeader('X-Job-Id');
		if (job) state.job = job;
	};
}

async function whole() {
	const st = { patches: 0, job: null, resumedFrom: null };
	const up = await new Promise((resolve, reject) => {
		const u = new tus.Upload(
			data,
			options({ chunkSize: 1 << 20, onAfterResponse: watch(st), onError: reject, onSuccess: () => resolve(u) }),
		);
		u.start();
	});
	return { url: up.url, job: st.job, patches: st.patches, missing_tus_resumable: missingTusResumable };
}

async function interrupt() {
	const urlStorage = new tus.FileUrlStorage(store);
	let sent = 0;
	const u = await new Promise((resolve, reject) => {
		const up = new tus.Upload(
			data,
			options({
				httpStack: new SlowStack(),
				urlStorage,
				storeFingerprintForResuming: true,
				onError: reject,
				onSuccess: () => reject(new Error('finished before it could be interrupted')),
				onProgress: (bytes, total) => {
					if (bytes >= total * 0.4 && !sent) {
						sent = bytes;
						up.abort().then(() => resolve(up), reject);
					}
				},
			}),
		);
		up.start();
	});
	// let the server notice the broken connection
	await new Promise((r) => setTimeout(r, 300));
	return { url: u.url, sent, missing_tus_resumable: missingTusResumable };
}

async function resume() {
	const urlStorage = new tus.FileUrlStorage(store);
	const st = { patches: 0, job: null, resumedFrom: null };
	const up = await new Promise((resolve, reject) => {
		const u = new tus.Upload(
			data,
			options({ urlStorage, onAfterResponse: watch(st), onError: reject, onSuccess: () => resolve(u) }),
		);
		u.findPreviousUploads().then((prev) => {
			if (prev.length !== 1) {
				reject(new Error(`expected one previous upload, found ${prev.length}`));
				return;
			}
			u.resumeFromPreviousUpload(prev[0]);
			u.start();
		}, reject);
	});
	return {
		url: up.url,
		job: st.job,
		resumed_from: st.resumedFrom,
		patches: st.patches,
		missing_tus_resumable: missingTusResumable,
	};
}

const run = { whole, interrupt, resume }[mode];
if (!run) fail(`unknown mode ${mode}`);
run().then((out) => console.log(JSON.stringify(out)), fail);

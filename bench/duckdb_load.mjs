// DuckDB side of the ingest benchmark (bench/ingest.sh).
//   node bench/duckdb_load.mjs FILE DBFILE [key|nokey]
// Loads FILE (a `sluice gen cdr` file) into a typed table t of a DuckDB
// database file on disk with read_csv(..., store_rejects=true): the rows
// that do not parse or cast go to DuckDB's rejects tables. With `key`,
// reference is the PRIMARY KEY and the duplicates of the file are skipped
// with INSERT OR IGNORE (without it the whole INSERT fails on the first
// duplicate). DuckDB's thread count is left at its default (all cores).
// Prints one line of counts to stderr: loaded, rejected, seconds.
import { DuckDBInstance } from '@duckdb/node-api';

const [file, dbfile, mode = 'nokey'] = process.argv.slice(2);
if (!file || !dbfile || !['key', 'nokey'].includes(mode)) {
	console.error('usage: node duckdb_load.mjs FILE DBFILE [key|nokey]');
	process.exit(2);
}
const key = mode === 'key';
const q = (s) => `'${String(s).replaceAll("'", "''")}'`;

const t0 = process.hrtime.bigint();
const instance = await DuckDBInstance.create(dbfile);
const con = await instance.connect();
await con.run(`CREATE TABLE t (
	caller_id VARCHAR,
	recipient VARCHAR,
	call_date DATE,
	end_time TIME,
	duration BIGINT,
	cost DECIMAL(18,3),
	reference VARCHAR${key ? ' PRIMARY KEY' : ''},
	currency VARCHAR)`);
await con.run(`INSERT ${key ? 'OR IGNORE ' : ''}INTO t SELECT * FROM read_csv(${q(file)},
	header = true, delim = ',', quote = '"', escape = '"',
	columns = {
		'caller_id': 'VARCHAR', 'recipient': 'VARCHAR', 'call_date': 'DATE',
		'end_time': 'TIME', 'duration': 'BIGINT', 'cost': 'DECIMAL(18,3)',
		'reference': 'VARCHAR', 'currency': 'VARCHAR'},
	dateformat = '%d/%m/%Y',
	store_rejects = true, rejects_table = 'rejects', rejects_scan = 'rejects_scan')`);
// The rejects tables are temporary; copy them so they survive like sluice's.
await con.run('CREATE TABLE t_rejects AS SELECT * FROM rejects');
await con.run('CHECKPOINT');
const t1 = process.hrtime.bigint();

const one = async (sql) => (await con.runAndReadAll(sql)).getRows()[0][0];
const loaded = Number(await one('SELECT count(*) FROM t'));
const rejectLines = Number(await one('SELECT count(DISTINCT line) FROM t_rejects'));
const rejectErrors = Number(await one('SELECT count(*) FROM t_rejects'));
const byType = (await con.runAndReadAll(
	'SELECT error_type::VARCHAR, count(*) FROM t_rejects GROUP BY 1 ORDER BY 1')).getRows()
	.map(([k, n]) => `${k}=${n}`).join(' ');
const threads = await one("SELECT current_setting('threads')");
console.error(`duckdb ${mode}: loaded ${loaded} rows, rejected ${rejectLines} lines ` +
	`(${rejectErrors} errors: ${byType}), threads ${threads}, ` +
	`${(Number(t1 - t0) / 1e9).toFixed(3)} s`);
con.closeSync();
instance.closeSync();

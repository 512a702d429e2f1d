/*
 * Printing jobs: as one JSON object (the fields are written by the library,
 * sl_job_json_fields, shared with the HTTP API), as a human summary, and
 * the exit code a status means.
 */
#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "cli.h"

void cli_job_json(FILE *f, const sl_job *j)
{
	fputc('{', f);
	sl_job_json_fields(f, j, sl_now_ms());
	fputc('}', f);
}

void cli_job_summary(FILE *f, const sl_job *j)
{
	double duration_s = sl_job_duration_s(j, sl_now_ms());
	fprintf(f, "job %s: %s%s\n", j->id, sl_job_status_name(j->status),
	        j->resumed ? " (resumed)" : "");
	fprintf(f, "  file     %s (%llu bytes)\n", j->file ? j->file : "-",
	        (unsigned long long)j->bytes_total);
	fprintf(f, "  table    %s (dataset %s)\n", j->table ? j->table : "-",
	        j->dataset ? j->dataset : "-");
	fprintf(f, "  rows     %llu read, %llu loaded, %llu rejected\n",
	        (unsigned long long)j->rows_read, (unsigned long long)j->rows_loaded,
	        (unsigned long long)j->rows_rejected);
	/* on_duplicate: update: the loaded rows split (inserted + updated = loaded) */
	if (j->rows_updated)
		fprintf(f, "  loaded   %llu inserted, %llu updated\n",
		        (unsigned long long)j->rows_inserted, (unsigned long long)j->rows_updated);
	cli_job_notes(f, j, true);
	fprintf(f, "  chunks   %llu total, %llu succeeded, %llu failed\n",
	        (unsigned long long)j->chunks_total, (unsigned long long)j->chunks_succeeded,
	        (unsigned long long)j->chunks_failed);
	if (duration_s > 0)
		fprintf(f, "  time     %.2f s (%.0f rows/s)\n", duration_s,
		        duration_s > 0 ? (double)j->rows_read / duration_s : 0);
	cli_job_notes(f, j, false);
}

void cli_print_list(FILE *f, const char *list, const char *sep)
{
	for (const char *p = list; *p; p++) {
		if (*p != '\n')
			fputc(*p, f);
		else if (p[1])
			fputs(sep, f);
	}
}

void cli_job_notes(FILE *f, const sl_job *j, bool codes)
{
	if (codes) {
		for (int k = 0; k < SL_ERROR_COUNT; k++)
			if (j->rejects_by_code[k])
				fprintf(f, "           %-22s %llu\n",
				        sl__error_report(sl_error_at(k)),
				        (unsigned long long)j->rejects_by_code[k]);
		return;
	}
	if (j->ignored_columns) {
		fputs("  ignored  ", f);
		cli_print_list(f, j->ignored_columns, ", ");
		fputs(" (header columns the schema does not read)\n", f);
	}
	if (j->records_padded || j->records_truncated)
		fprintf(f, "  shape    %llu short records read with NULLs, %llu long records cut\n",
		        (unsigned long long)j->records_padded,
		        (unsigned long long)j->records_truncated);
	if (j->warnings) {
		fputs("  warning  ", f);
		cli_print_list(f, j->warnings, "; ");
		fputc('\n', f);
	}
	if (j->same_as[0])
		fprintf(f, "  same as  job %s (the same content was loaded by it)\n", j->same_as);
	if (j->refeed_of[0])
		fprintf(f, "  refeed   of job %s (its rejected rows)\n", j->refeed_of);
	if (j->rejects_resolved)
		fprintf(f, "  refed    %llu rejected rows loaded by refeeds, %llu still open\n",
		        (unsigned long long)j->rejects_resolved,
		        (unsigned long long)(j->rows_rejected > j->rejects_resolved
		                                 ? j->rows_rejected - j->rejects_resolved
		                                 : 0));
	if (j->error_code)
		fprintf(f, "  error    %s: %s\n", sl__error_report(j->error_code),
		        j->error_message ? j->error_message : sl_error_message(j->error_code));
}

int cli_job_exit(const sl_job *j)
{
	switch (j->status) {
	case SL_JOB_SUCCEEDED:
	case SL_JOB_ROLLEDBACK:
		return EXIT_OK;
	case SL_JOB_PARTIAL:
		return EXIT_PARTIAL;
	default:
		return EXIT_FAILED;
	}
}

/* csv.c - record counting for `amcbatch export`, which reports the rows it wrote. The CSV
 * the CLI writes itself is core's csvw.c's. */
#include "csv.h"

void csv_count_feed(CsvCounter *c, const char *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		/* "" inside quotes toggles twice: out and back in, as it should */
		if (data[i] == '"') {
			c->quoted = !c->quoted;
			c->partial = true;
		} else if (data[i] == '\n' && !c->quoted) {
			c->records++;
			c->partial = false;
		} else {
			c->partial = true;
		}
	}
}

unsigned long long csv_count_records(const CsvCounter *c)
{
	return c->records + (c->partial ? 1 : 0);
}

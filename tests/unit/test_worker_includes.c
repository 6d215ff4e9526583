/* test_worker_includes.c - the #include "..." graph of src/worker has no cycle (issue 14). A
 * node is a module, x.c together with x.h; x -> y when x.c or x.h includes y.h of src/worker
 * (src/core's headers are below every module and not followed). Every prototype of x.h is
 * defined in x.c, so the graph is also who may call whom; calls that go back up go through
 * function pointers (w->job_done, w->job_begin, job_archive's bad_spool). */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../tap.h"

#define MAX_MODULES 128
#define NAME_LEN 64

typedef struct Graph {
	int n;
	char name[MAX_MODULES][NAME_LEN];
	unsigned char edge[MAX_MODULES][MAX_MODULES];
	int edges;
} Graph;

static int find(const Graph *g, const char *name)
{
	for (int i = 0; i < g->n; i++)
		if (strcmp(g->name[i], name) == 0)
			return i;
	return -1;
}

/* "x.c" or "x.h" -> "x"; false for other files or names too long */
static bool module_of(const char *file, char *out)
{
	size_t n = strlen(file);
	if (n < 3 || n - 2 >= NAME_LEN || file[n - 2] != '.' ||
	    (file[n - 1] != 'c' && file[n - 1] != 'h'))
		return false;
	memcpy(out, file, n - 2);
	out[n - 2] = '\0';
	return true;
}

static bool add_edges(Graph *g, const char *dir, const char *file, int from)
{
	char path[1024], line[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if ((f = fopen(path, "r")) == NULL)
		return false;
	while (fgets(line, sizeof(line), f)) {
		char inc[NAME_LEN + 2];
		int to;
		if (sscanf(line, "#include \"%65[^\"]\"", inc) != 1)
			continue;
		size_t n = strlen(inc);
		if (n < 3 || strcmp(inc + n - 2, ".h") != 0)
			continue;
		inc[n - 2] = '\0';
		if ((to = find(g, inc)) >= 0 && to != from && !g->edge[from][to]) {
			g->edge[from][to] = 1;
			g->edges++;
		}
	}
	fclose(f);
	return true;
}

static bool load(Graph *g, const char *dir)
{
	DIR *d;
	struct dirent *de;
	char m[NAME_LEN];

	memset(g, 0, sizeof(*g));
	if ((d = opendir(dir)) == NULL)
		return false;
	while ((de = readdir(d)) != NULL)
		if (module_of(de->d_name, m) && find(g, m) < 0 && g->n < MAX_MODULES)
			strcpy(g->name[g->n++], m);
	rewinddir(d);
	while ((de = readdir(d)) != NULL)
		if (module_of(de->d_name, m) && !add_edges(g, dir, de->d_name, find(g, m))) {
			closedir(d);
			return false;
		}
	closedir(d);
	return true;
}

/* Appends s to the string in buf (cap bytes), cut at its end. */
static void append(char *buf, size_t cap, const char *s)
{
	size_t n = strlen(buf);
	snprintf(buf + n, cap - n, "%s", s);
}

/* Depth first; a node met again while on the path closes a cycle, printed from it. */
static bool dfs(const Graph *g, int v, char *color, int *path, int depth, char *cycle,
		size_t cyclen)
{
	color[v] = 1;
	path[depth] = v;
	for (int t = 0; t < g->n; t++) {
		if (!g->edge[v][t])
			continue;
		if (color[t] == 1) {
			int i = depth;
			while (path[i] != t)
				i--;
			for (; i <= depth; i++) {
				append(cycle, cyclen, g->name[path[i]]);
				append(cycle, cyclen, " -> ");
			}
			append(cycle, cyclen, g->name[t]);
			return true;
		}
		if (color[t] == 0 && dfs(g, t, color, path, depth + 1, cycle, cyclen))
			return true;
	}
	color[v] = 2;
	return false;
}

static bool has_cycle(const Graph *g, char *cycle, size_t cyclen)
{
	char color[MAX_MODULES] = { 0 };
	int path[MAX_MODULES];
	cycle[0] = '\0';
	for (int v = 0; v < g->n; v++)
		if (color[v] == 0 && dfs(g, v, color, path, 0, cycle, cyclen))
			return true;
	return false;
}

static void test_worker_includes_acyclic(void)
{
	Graph *g = malloc(sizeof(*g));
	char cycle[1024] = "";

	assertf(g != NULL && load(g, TOP_SRCDIR "/src/worker"), "cannot read %s/src/worker",
		TOP_SRCDIR);
	if (g == NULL)
		return;
	/* not vacuous: the worker has dozens of modules and edges */
	assertf(g->n >= 20 && g->edges >= 40, "only %d modules, %d edges read", g->n, g->edges);
	assertf(!has_cycle(g, cycle, sizeof(cycle)), "src/worker include cycle: %s", cycle);
	printf("# %d modules, %d edges\n", g->n, g->edges);
	free(g);
}

/* The check itself finds a cycle through a header: a.c -> b.h, b.h -> c.h, c.c -> a.h. */
static void test_worker_includes_finds_a_cycle(void)
{
	char dir[] = "/tmp/test_worker_includes.XXXXXX", path[256], cycle[1024] = "";
	static const char *const files[][2] = {
		{ "a.c", "#include \"a.h\"\n#include \"b.h\"\n#include \"log.h\"\n" },
		{ "a.h", "" },
		{ "b.h", "#include \"c.h\"\n" },
		{ "c.c", "#include \"c.h\"\n#include \"a.h\"\n" },
		{ "c.h", "" },
		{ "d.c", "#include \"a.h\"\n" },
	};
	Graph *g = malloc(sizeof(*g));

	assertf(g != NULL && mkdtemp(dir), "temp dir");
	if (g == NULL)
		return;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i][0]);
		FILE *f = fopen(path, "w");
		assertf(f != NULL && fputs(files[i][1], f) >= 0 && fclose(f) == 0, "write %s",
			path);
	}
	assertf(load(g, dir) && g->n == 4 && g->edges == 4, "%d modules, %d edges", g->n, g->edges);
	assertf(has_cycle(g, cycle, sizeof(cycle)), "the a -> b -> c -> a cycle is found");
	assertf(strstr(cycle, "a") != NULL && strstr(cycle, "b") != NULL &&
			strstr(cycle, "c") != NULL && strstr(cycle, "d") == NULL,
		"cycle named: %s", cycle);
	g->edge[find(g, "c")][find(g, "a")] = 0; /* without c -> a it is gone */
	assertf(!has_cycle(g, cycle, sizeof(cycle)), "no cycle once c -> a is removed");
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i][0]);
		unlink(path);
	}
	rmdir(dir);
	free(g);
}

int main(void)
{
	RUN_TEST(test_worker_includes_finds_a_cycle);
	RUN_TEST(test_worker_includes_acyclic);
	return tap_done();
}

/* strict.c - text checks, not a parser: it tokenises (skipping strings, quoted identifiers
 * and comments) and applies AMC's documented limits: no LIMIT, no SELECT *, ORDER BY only in
 * window/aggregate calls, aggregation required, known tables only, no leftover {{. */
#include "strict.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "data.h"

enum TokKind { TOK_WORD, TOK_QIDENT, TOK_PUNCT, TOK_OTHER };

typedef struct Tok {
	enum TokKind kind;
	const char *s; /* points into the SQL text */
	size_t n;
	int line, col, eline, ecol; /* 1-based start and end (inclusive) */
} Tok;

typedef struct Lexer {
	const char *p;
	int line, col;
} Lexer;

static void adv(Lexer *lx)
{
	if (*lx->p == '\n') {
		lx->line++;
		lx->col = 1;
	} else {
		lx->col++;
	}
	lx->p++;
}

/* next token, or false at the end */
static bool lex_next(Lexer *lx, Tok *t)
{
	for (;;) {
		while (*lx->p && isspace((unsigned char)*lx->p))
			adv(lx);
		if (lx->p[0] == '-' && lx->p[1] == '-') {
			while (*lx->p && *lx->p != '\n')
				adv(lx);
			continue;
		}
		if (lx->p[0] == '/' && lx->p[1] == '*') {
			adv(lx);
			adv(lx);
			while (*lx->p && !(lx->p[0] == '*' && lx->p[1] == '/'))
				adv(lx);
			if (*lx->p) {
				adv(lx);
				adv(lx);
			}
			continue;
		}
		break;
	}
	if (!*lx->p)
		return false;
	t->s = lx->p;
	t->line = lx->line;
	t->col = lx->col;
	unsigned char c = (unsigned char)*lx->p;
	if (c == '\'' || c == '"') {
		t->kind = c == '"' ? TOK_QIDENT : TOK_OTHER;
		adv(lx);
		while (*lx->p) {
			if ((unsigned char)*lx->p == c) {
				if ((unsigned char)lx->p[1] == c) { /* doubled quote */
					adv(lx);
					adv(lx);
					continue;
				}
				break;
			}
			if (c == '\'' && *lx->p == '\\' && lx->p[1])
				adv(lx); /* E'' escapes: harmless for plain strings */
			adv(lx);
		}
		if (*lx->p)
			adv(lx);
	} else if (isalpha(c) || c == '_') {
		t->kind = TOK_WORD;
		while (isalnum((unsigned char)*lx->p) || *lx->p == '_' || *lx->p == '$')
			adv(lx);
	} else if (isdigit(c)) {
		t->kind = TOK_OTHER;
		while (isalnum((unsigned char)*lx->p) || *lx->p == '.')
			adv(lx);
	} else {
		t->kind = TOK_PUNCT;
		adv(lx);
	}
	t->n = (size_t)(lx->p - t->s);
	t->eline = lx->line;
	t->ecol = lx->col - 1;
	return true;
}

static bool is_word(const Tok *t, const char *w)
{
	return t->kind == TOK_WORD && strlen(w) == t->n && strncasecmp(t->s, w, t->n) == 0;
}

static bool is_punct(const Tok *t, char c)
{
	return t->kind == TOK_PUNCT && t->s[0] == c;
}

static bool word_in(const Tok *t, const char *const *list)
{
	for (; *list; list++)
		if (is_word(t, *list))
			return true;
	return false;
}

static void fail(char *msg, size_t msglen, const Tok *a, const Tok *b, const char *what)
{
	snprintf(msg, msglen, "From line %d, column %d to line %d, column %d: %s", a->line, a->col,
		 b->eline, b->ecol, what);
}

/* words before "(" that open a subquery rather than a call or a window */
static const char *const not_calls[] = {
	"as",    "from",      "join",   "in",      "exists", "any",  "all",    "some",
	"union", "intersect", "except", "lateral", "where",  "and",  "or",     "not",
	"on",    "select",    "with",   "then",    "else",   "when", "having", NULL,
};
static const char *const aggregates[] = {
	"count",           "sum",       "avg",         "min",        "max",
	"approx_distinct", "stddev",    "stddev_samp", "stddev_pop", "variance",
	"var_samp",        "var_pop",   "bool_or",     "bool_and",   "string_agg",
	"array_agg",       "every",     "bit_or",      "bit_and",    "percentile_cont",
	"percentile_disc", "mode",      "corr",        "covar_pop",  "covar_samp",
	"json_agg",        "jsonb_agg", NULL,
};

#define MAX_TOKS 20000
#define MAX_DEPTH 256

bool strict_check(const char *sql, char *msg, size_t msglen)
{
	Lexer lx = { sql, 1, 1 };
	Tok *t = malloc(MAX_TOKS * sizeof(*t));
	bool call_paren[MAX_DEPTH];
	int n = 0, depth = 0;
	bool ok = false, has_agg = false;

	if (t == NULL) {
		snprintf(msg, msglen, "out of memory");
		return false;
	}
	while (n < MAX_TOKS && lex_next(&lx, &t[n]))
		n++;
	if (n == 0) {
		snprintf(msg, msglen, "Query is empty");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		Tok *k = &t[i];
		if (is_punct(k, '{') && i + 1 < n && is_punct(&t[i + 1], '{')) {
			fail(msg, msglen, k, &t[i + 1],
			     "Undeclared parameter: template placeholders ({{...}}) must be substituted");
			goto out;
		}
		if (is_word(k, "limit")) {
			fail(msg, msglen, k, k, "LIMIT is not supported in AMC SQL");
			goto out;
		}
		if (is_word(k, "select")) {
			int j = i + 1;
			if (j < n && (is_word(&t[j], "distinct") || is_word(&t[j], "all")))
				j++;
			if (j < n && is_punct(&t[j], '*')) {
				fail(msg, msglen, k, &t[j], "SELECT * is not supported in AMC SQL");
				goto out;
			}
		}
		if (is_punct(k, '(')) {
			bool call = i > 0 &&
				    (t[i - 1].kind == TOK_WORD || t[i - 1].kind == TOK_QIDENT) &&
				    !word_in(&t[i - 1], not_calls);
			if (depth < MAX_DEPTH)
				call_paren[depth] = call;
			depth++;
			if (i > 0 && word_in(&t[i - 1], aggregates))
				has_agg = true;
		} else if (is_punct(k, ')')) {
			if (depth > 0)
				depth--;
		}
		if (is_word(k, "order") && i + 1 < n && is_word(&t[i + 1], "by") &&
		    (depth == 0 || (depth <= MAX_DEPTH && !call_paren[depth - 1]))) {
			fail(msg, msglen, k, &t[i + 1],
			     "ORDER BY is only supported in window functions (OVER) in AMC SQL");
			goto out;
		}
		if ((is_word(k, "from") || is_word(k, "join")) && i + 1 < n &&
		    (t[i + 1].kind == TOK_WORD || t[i + 1].kind == TOK_QIDENT)) {
			Tok *nm = &t[i + 1], *last = nm;
			bool known = false;
			char name[128];
			if (i + 2 < n && is_punct(&t[i + 2], '('))
				continue; /* table function */
			if (word_in(nm, (const char *const[]){ "lateral", "unnest", NULL }))
				continue;
			if (i + 3 < n && is_punct(&t[i + 2], '.'))
				last = &t[i + 3]; /* schema-qualified: never an AMC table */
			else
				for (const char *const *v = data_views; *v != NULL && !known; v++)
					known = is_word(nm, *v);
			/* a CTE: "<name> AS (" or "<name> (cols) AS (" anywhere in the text */
			for (int j = 0; j + 2 < n && !known && last == nm; j++) {
				if (t[j].n != nm->n || strncasecmp(t[j].s, nm->s, nm->n) != 0)
					continue;
				int m = j + 1;
				if (is_punct(&t[m], '(')) {
					while (m < n && !is_punct(&t[m], ')'))
						m++;
					m++;
				}
				known = m + 1 < n && is_word(&t[m], "as") &&
					is_punct(&t[m + 1], '(');
			}
			if (!known) {
				int len = (int)(last->s + last->n - nm->s);
				char what[200];
				snprintf(name, sizeof(name), "%.*s", len > 100 ? 100 : len, nm->s);
				snprintf(what, sizeof(what), "Object '%s' not found", name);
				fail(msg, msglen, nm, last, what);
				goto out;
			}
		}
	}
	if (!has_agg) {
		fail(msg, msglen, &t[0], &t[n - 1],
		     "Aggregation is required: AMC returns only aggregated results (use GROUP BY with COUNT, SUM, ...)");
		goto out;
	}
	ok = true;
out:
	free(t);
	return ok;
}

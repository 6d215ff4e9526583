// dialect.cocci - one dialect for pointer tests, kept by scripts/format: a pointer is compared
// with NULL (`p == NULL`, `p != NULL`), never used as a truth value (`!p`, `if (p)`, `p && q`,
// `p ? a : b`). Coccinelle knows which expressions are pointers from the declarations and the
// headers. The standard isomorphisms that equate `!p` with `p == NULL` are disabled, or every
// rule would also match the code it writes. One pass rewrites one operand of a chain
// (`a && b && c`): scripts/format runs it until nothing changes.
@ptr_not disable not_ptr1, not_ptr2, is_zero, isnt_zero, is_null, isnt_null1, not_int1, not_int2 @
expression *E;
@@
- !E
+ E == NULL

@ptr_if disable not_ptr1, not_ptr2, is_zero, isnt_zero, is_null, isnt_null1, not_int1, not_int2 @
expression *E;
statement S;
@@
- if (E)
+ if (E != NULL)
  S

@ptr_while disable not_ptr1, not_ptr2, is_zero, isnt_zero, is_null, isnt_null1, not_int1, not_int2 @
expression *E;
statement S;
@@
- while (E)
+ while (E != NULL)
  S

// an operand of && or || and the test of ?: found first, then rewritten alone, so that the
// operands of one chain (a && b && c, a ? b : c ? d : e) are matches that never overlap
@ptr_logic disable not_ptr1, not_ptr2, is_zero, isnt_zero, is_null, isnt_null1, not_int1, not_int2 @
expression *E;
expression F, G;
position p;
@@
(
  E@p && F
|
  F && E@p
|
  E@p || F
|
  F || E@p
|
  E@p ? F : G
)

@ disable not_ptr1, not_ptr2, is_zero, isnt_zero, is_null, isnt_null1, not_int1, not_int2 @
expression *ptr_logic.E;
position ptr_logic.p;
@@
- E@p
+ E != NULL

-- 018_compare_typed rollback: the comparison reads result_rows again (an API of before 018)
DROP FUNCTION amcbatch_result_sums(regclass, jsonb, text, text);

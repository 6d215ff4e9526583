-- 006_windows: a batch may ask for a relative date window ("previous_week", "the last 7
-- days", ...) instead of explicit dates (issue 10). The API resolves it once, at submission,
-- in each instance's time zone and stores the days with each execution (time_window_start,
-- time_window_end, time_window_timezone, from 004); the batch keeps what was asked for, to
-- show it and to run it again.
ALTER TABLE batch_executions
	-- {"type": "previous_week" | "last_n_days" | ..., "n": int (some types), "lag_days": int};
	-- NULL when the batch gave explicit dates
	ADD COLUMN time_window jsonb
		CHECK (time_window IS NULL OR (jsonb_typeof(time_window) = 'object'
		       AND time_window ? 'type'));

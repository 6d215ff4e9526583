-- push_ready(prefix, ring_key, batch_id, ref, front): make a `queued` ref claimable: onto its
-- batch's queue P batch:{B}:queue (front = claimed next within the batch, else last), and the
-- batch into the ring P queue when its queue was empty, so a batch is in the ring exactly
-- when its queue is not empty (claim's round-robin relies on it).
--- @include "lib/keys"
local function push_ready(prefix, ring_key, batch_id, ref, front)
	local queue_key = key_batch_queue(prefix, batch_id)
	local n
	if front then
		n = rcall('RPUSH', queue_key, ref)
	else
		n = rcall('LPUSH', queue_key, ref)
	end
	if n == 1 then
		rcall('LPUSH', ring_key, batch_id)
	end
end

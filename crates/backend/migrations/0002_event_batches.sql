-- Keys of the event batches already ingested: a batch the gateway retries
-- after the backend committed it (the answer was lost on the way) carries
-- the same key and is not counted twice. Keys are pruned after a retention
-- far longer than any retry, so the table stays small.
CREATE TABLE event_batches (
    batch_key TEXT PRIMARY KEY,
    received_at BIGINT NOT NULL
);

CREATE INDEX event_batches_by_time ON event_batches (received_at);

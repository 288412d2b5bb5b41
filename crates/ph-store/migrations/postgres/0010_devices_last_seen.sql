-- When a device last reported its device-meta (its heartbeat, every
-- metadata.devmeta.interval): the console's online/offline. Nanoseconds
-- since the Unix epoch; 0 = never.
ALTER TABLE devices ADD COLUMN last_seen BIGINT NOT NULL DEFAULT 0;

-- The rev of the step a rollout posted to each device (NULL until its
-- wave starts; -1 when the step could not be posted, e.g. the device was
-- deleted). Waves are read by joining this to `steps`, so the `revs` map
-- of 0002's comment is not kept in `waves`.
ALTER TABLE rollout_devices ADD COLUMN rev BIGINT;

-- Staged rollouts: one state posted to a set of devices in waves.
-- `waves` is a JSON array [{"devices": [id…], "revs": {id: rev}, "started":
-- bool, "tolerated": n}]; `version` is bumped by every write, and a write
-- names the version it read (compare-and-swap), so concurrent hub
-- instances advance a rollout exactly once.
CREATE TABLE rollouts (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    commit_msg TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL,
    state_sha TEXT NOT NULL,
    threshold DOUBLE PRECISION NOT NULL DEFAULT 0,
    waves TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 0,
    created BIGINT NOT NULL,
    modified BIGINT NOT NULL
);
CREATE INDEX rollouts_owner ON rollouts (owner, created);

CREATE TABLE rollout_devices (
    rollout_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    PRIMARY KEY (rollout_id, device_id)
);
CREATE INDEX rollout_devices_device ON rollout_devices (device_id);

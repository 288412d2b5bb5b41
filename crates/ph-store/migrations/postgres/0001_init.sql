-- Pantahub schema for PostgreSQL: the SQLite schema with every integer a
-- BIGINT (the sqlx Any driver decodes them as i64) and logs.id a BIGSERIAL.
CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    prn TEXT NOT NULL UNIQUE,
    nick TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    challenge TEXT NOT NULL DEFAULT '',
    type TEXT NOT NULL,
    created BIGINT NOT NULL,
    modified BIGINT NOT NULL
);

CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    prn TEXT NOT NULL UNIQUE,
    nick TEXT NOT NULL,
    owner TEXT NOT NULL,
    secret TEXT NOT NULL,
    challenge TEXT NOT NULL DEFAULT '',
    public BIGINT NOT NULL DEFAULT 0,
    user_meta TEXT NOT NULL DEFAULT '{}',
    device_meta TEXT NOT NULL DEFAULT '{}',
    created BIGINT NOT NULL,
    modified BIGINT NOT NULL,
    UNIQUE (owner, nick)
);

CREATE TABLE device_tokens (
    id TEXT PRIMARY KEY,
    prn TEXT NOT NULL,
    owner TEXT NOT NULL,
    nick TEXT NOT NULL DEFAULT '',
    token_sha TEXT NOT NULL UNIQUE,
    default_user_meta TEXT NOT NULL DEFAULT '{}',
    disabled BIGINT NOT NULL DEFAULT 0,
    created BIGINT NOT NULL,
    modified BIGINT NOT NULL
);
CREATE INDEX device_tokens_owner ON device_tokens (owner);

CREATE TABLE trails (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    device TEXT NOT NULL,
    factory_state TEXT NOT NULL,
    last_insync BIGINT NOT NULL,
    last_touched BIGINT NOT NULL,
    created BIGINT NOT NULL,
    modified BIGINT NOT NULL
);
CREATE INDEX trails_owner ON trails (owner);

CREATE TABLE steps (
    trail_id TEXT NOT NULL,
    rev BIGINT NOT NULL,
    owner TEXT NOT NULL,
    device TEXT NOT NULL,
    committer TEXT NOT NULL DEFAULT '',
    commit_msg TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL,
    state_sha TEXT NOT NULL,
    progress TEXT NOT NULL,
    status TEXT NOT NULL,
    meta TEXT NOT NULL DEFAULT '{}',
    step_time BIGINT NOT NULL,
    progress_time BIGINT NOT NULL,
    created BIGINT NOT NULL,
    modified BIGINT NOT NULL,
    PRIMARY KEY (trail_id, rev)
);
CREATE INDEX steps_status ON steps (trail_id, status);

-- the object shas a step's state references (public linking, used objects)
CREATE TABLE step_objects (
    trail_id TEXT NOT NULL,
    rev BIGINT NOT NULL,
    sha TEXT NOT NULL,
    PRIMARY KEY (trail_id, rev, sha)
);
CREATE INDEX step_objects_sha ON step_objects (sha);

CREATE TABLE objects (
    storage_id TEXT PRIMARY KEY,
    sha TEXT NOT NULL,
    owner TEXT NOT NULL,
    objectname TEXT NOT NULL DEFAULT '',
    size BIGINT NOT NULL,
    mime_type TEXT NOT NULL DEFAULT '',
    linked TEXT NOT NULL DEFAULT '',
    uploaded BIGINT NOT NULL DEFAULT 0,
    created BIGINT NOT NULL,
    modified BIGINT NOT NULL,
    UNIQUE (owner, sha)
);

CREATE TABLE profiles (
    owner TEXT PRIMARY KEY,
    meta TEXT NOT NULL DEFAULT '{}',
    modified BIGINT NOT NULL
);

CREATE TABLE logs (
    id BIGSERIAL PRIMARY KEY,
    dev TEXT NOT NULL,
    own TEXT NOT NULL,
    created BIGINT NOT NULL,
    tsec BIGINT NOT NULL DEFAULT 0,
    tnano BIGINT NOT NULL DEFAULT 0,
    rev TEXT NOT NULL DEFAULT '',
    plat TEXT NOT NULL DEFAULT '',
    src TEXT NOT NULL DEFAULT '',
    lvl TEXT NOT NULL DEFAULT '',
    msg TEXT NOT NULL DEFAULT ''
);
CREATE INDEX logs_own_created ON logs (own, created);

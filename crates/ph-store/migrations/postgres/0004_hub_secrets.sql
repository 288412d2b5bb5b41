-- Secrets every hub process on this database shares (the token signing
-- keys), written once by whichever process starts first.
CREATE TABLE hub_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- A flavor's description (the compute API's 2.55), set at create or by an update.
ALTER TABLE flavors ADD COLUMN description TEXT;

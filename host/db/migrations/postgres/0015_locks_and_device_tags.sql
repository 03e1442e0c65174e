-- Compute microversions 2.70 and 2.73 (issue 16): a port's device tag, given when the
-- server's create or an attach plugged it (cleared when the port is unplugged), and the
-- reason a server was locked (cleared when it is unlocked).
ALTER TABLE ports ADD COLUMN tag TEXT;
ALTER TABLE instances ADD COLUMN locked_reason TEXT;

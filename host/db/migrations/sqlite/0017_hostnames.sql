-- Compute microversions 2.90 and 2.94 (issue 16): the hostname a tenant chose at create,
-- update or rebuild; NULL: the one made from the server's name.
ALTER TABLE instances ADD COLUMN hostname TEXT;

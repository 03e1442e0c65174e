-- What later compute microversions add to a server (issue 16): the tenant's description
-- (2.19) and tags (2.26; at most 50 per server, each unique).
ALTER TABLE instances ADD COLUMN description TEXT;

CREATE TABLE instance_tags (
    instance_uuid TEXT NOT NULL,
    tag TEXT NOT NULL,
    PRIMARY KEY (instance_uuid, tag)
);
CREATE INDEX instance_tags_tag ON instance_tags (tag);

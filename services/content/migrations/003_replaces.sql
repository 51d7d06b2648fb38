-- A new edition names the item it replaces: once it is published, the old item's links
-- (when it retires) point to it.
ALTER TABLE {schema}.items ADD COLUMN replaces text REFERENCES {schema}.items(item_id);

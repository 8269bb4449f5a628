--
-- The per-relation cache does not grow with invalidations: each entry owns
-- one memory context, and a rebuilt entry's old one is freed when the
-- transaction ends (an apply worker sees an invalidation after every
-- ANALYZE or VACUUM of its tables).
--
CREATE TABLE cache_t (id int PRIMARY KEY, v text);
SELECT multimaster.add_table('cache_t');
INSERT INTO cache_t VALUES (0, 'x');
SELECT count(*) AS contexts_before FROM pg_backend_memory_contexts
 WHERE name = 'multimaster relation';
DO $$
BEGIN
    FOR i IN 1 .. 200 LOOP
        EXECUTE format('ALTER TABLE cache_t ALTER COLUMN v SET STATISTICS %s', 10 + i);
        UPDATE cache_t SET v = 'x' || i WHERE id = 0;
    END LOOP;
END $$;
DO $$
BEGIN
    FOR i IN 1 .. 200 LOOP
        EXECUTE format('ALTER TABLE cache_t ALTER COLUMN v SET STATISTICS %s', 10 + i);
        COMMIT;
        UPDATE cache_t SET v = 'y' || i WHERE id = 0;
        COMMIT;
    END LOOP;
END $$;
SELECT count(*) AS contexts_after FROM pg_backend_memory_contexts
 WHERE name = 'multimaster relation';

-- Claims never wait for stride state (godel-postgres `PgQueueStore`, queue/claim.rs).
--
-- A claim charges each lane it served through `queue_serve_lane` when it ends. If another claim
-- holds the lane's row, the serves are left in `queue_lane_serves` instead of waiting, and the
-- next claim that gets the row folds them into its pass. Readers add the serves still owed.

CREATE TABLE queue_lane_serves (
    tenant_id TEXT NOT NULL,
    level     SMALLINT NOT NULL CHECK (level BETWEEN 0 AND 3),
    served    BIGINT NOT NULL CHECK (served > 0)
);

CREATE INDEX queue_lane_serves_lane_idx ON queue_lane_serves (tenant_id, level);

ALTER TABLE queue_lane_serves ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON queue_lane_serves
    USING (tenant_id = current_setting('app.current_tenant', true))
    WITH CHECK (tenant_id = current_setting('app.current_tenant', true));

-- Charges lane (p_tenant, p_level) for p_count tasks served from pass p_first on, p_stride
-- apart: its pass moves on from wherever it stands now (serves owed included), never from
-- behind p_first. Never waits for a lane another transaction holds.
CREATE FUNCTION queue_serve_lane(p_tenant TEXT, p_level SMALLINT, p_first BIGINT,
                                 p_count BIGINT, p_stride BIGINT) RETURNS VOID
LANGUAGE plpgsql AS $$
DECLARE
    v_pass BIGINT;
    v_owed BIGINT;
BEGIN
    SELECT pass INTO v_pass FROM queue_lanes
        WHERE tenant_id = p_tenant AND level = p_level FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        IF NOT EXISTS (SELECT 1 FROM queue_lanes WHERE tenant_id = p_tenant AND level = p_level) THEN
            INSERT INTO queue_lanes (tenant_id, level) VALUES (p_tenant, p_level)
                ON CONFLICT DO NOTHING;
            SELECT pass INTO v_pass FROM queue_lanes
                WHERE tenant_id = p_tenant AND level = p_level FOR UPDATE SKIP LOCKED;
        END IF;
        IF v_pass IS NULL THEN
            -- Another claim holds the lane: leave the serves for the next one to fold in.
            INSERT INTO queue_lane_serves (tenant_id, level, served)
                VALUES (p_tenant, p_level, p_count);
            RETURN;
        END IF;
    END IF;
    WITH folded AS (
        DELETE FROM queue_lane_serves WHERE tenant_id = p_tenant AND level = p_level
        RETURNING served)
    SELECT COALESCE(sum(served), 0) INTO v_owed FROM folded;
    v_pass := GREATEST(v_pass + v_owed * p_stride, p_first);
    UPDATE queue_lanes
        SET pass = v_pass + p_count * p_stride,
            served_pass = GREATEST(served_pass, v_pass + (p_count - 1) * p_stride)
        WHERE tenant_id = p_tenant AND level = p_level;
END
$$;

-- The manager's board: SLA compliance reads follow-ups by time and missed assignments by
-- team and time; escalations find the assignment that replaced a missed one.
CREATE INDEX follow_ups_recorded ON {schema}.follow_ups (recorded_at);
CREATE INDEX assignments_missed ON {schema}.assignments (team, closed_at) WHERE status = 'missed';
CREATE INDEX assignments_previous ON {schema}.assignments (previous_assignment_id)
    WHERE previous_assignment_id IS NOT NULL;

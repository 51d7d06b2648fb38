-- Wake the sla-timers job when an assignment's clock or reminder is due soon (shared.wakeups).
CREATE TRIGGER assignments_due_inserted AFTER INSERT ON {schema}.assignments
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION {schema}.notify_due('CASE WHEN status = ''open'' THEN least(due_at, CASE WHEN reminded_at IS NULL THEN remind_at END) END');
CREATE TRIGGER assignments_due_updated AFTER UPDATE ON {schema}.assignments
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION {schema}.notify_due('CASE WHEN status = ''open'' THEN least(due_at, CASE WHEN reminded_at IS NULL THEN remind_at END) END');

-- Wake the nurture-steps, nurture-mail and webinar-no-shows jobs when a step, an email or a
-- no-show marking is due soon (shared.wakeups).
CREATE TRIGGER enrollments_due_inserted AFTER INSERT ON {schema}.enrollments
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION {schema}.notify_due('CASE WHEN status = ''active'' THEN due_at END');
CREATE TRIGGER enrollments_due_updated AFTER UPDATE ON {schema}.enrollments
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION {schema}.notify_due('CASE WHEN status = ''active'' THEN due_at END');
CREATE TRIGGER messages_due_inserted AFTER INSERT ON {schema}.messages
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION {schema}.notify_due('CASE WHEN status = ''queued'' THEN not_before END');
CREATE TRIGGER messages_due_updated AFTER UPDATE ON {schema}.messages
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION {schema}.notify_due('CASE WHEN status = ''queued'' THEN not_before END');
CREATE TRIGGER webinars_due_inserted AFTER INSERT ON {schema}.webinars
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION {schema}.notify_due('CASE WHEN no_shows_marked_at IS NULL THEN no_show_due_at END');
CREATE TRIGGER webinars_due_updated AFTER UPDATE ON {schema}.webinars
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION {schema}.notify_due('CASE WHEN no_shows_marked_at IS NULL THEN no_show_due_at END');

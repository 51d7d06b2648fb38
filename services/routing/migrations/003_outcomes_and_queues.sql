-- Outcomes from the CRM (deal-outcome-recorded): an opportunity closes the lead's
-- assignment as "converted" (its clock stops, its rep's capacity frees) and the deal's
-- status, amount and close date are kept on that assignment for reports. A converted lead
-- stays "current" (it is never routed again), so the one-active index now includes it.
ALTER TABLE {schema}.assignments
    ADD COLUMN opportunity_id    text,
    ADD COLUMN deal_status       text CHECK (deal_status IN ('opportunity', 'won', 'lost')),
    ADD COLUMN deal_amount_minor bigint,
    ADD COLUMN deal_currency     text,
    ADD COLUMN deal_closed_on    date,
    ADD COLUMN deal_updated_at   timestamptz;
DROP INDEX {schema}.assignments_one_active;
CREATE UNIQUE INDEX assignments_one_active ON {schema}.assignments (lead_id)
    WHERE status IN ('open', 'followed_up', 'nurture', 'converted');
-- Taking the next lead from a team's queue by hand: the earliest due first.
CREATE INDEX assignments_queue ON {schema}.assignments (team, due_at, assigned_at)
    WHERE owner_kind = 'queue' AND status = 'open';

-- Each campaign's credited revenue per model and currency, kept with the credits
-- (repository.replace_credits) so the report reads a handful of rows, not every credit.
CREATE TABLE {schema}.credit_totals (
    campaign_id  text NOT NULL,
    model        text NOT NULL,
    currency     text NOT NULL,
    credit_minor bigint NOT NULL,
    PRIMARY KEY (campaign_id, model, currency)
);
INSERT INTO {schema}.credit_totals
SELECT campaign_id, model, currency, sum(credit_minor) FROM {schema}.credits GROUP BY 1, 2, 3;

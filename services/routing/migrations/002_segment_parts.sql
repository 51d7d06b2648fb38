-- Lead facts stored before lead-scored carried the segment's parts: give them the parts
-- consumers used to split out of the name (every segment then used the default
-- "{size}-{industry}-{region}" format or was a rule's single name). New rows carry the
-- parts scoring sent.
UPDATE {schema}.leads SET facts = facts || jsonb_build_object('segment_parts', to_jsonb(string_to_array(facts->>'segment', '-')))
WHERE NOT facts ? 'segment_parts' AND facts ? 'segment';
UPDATE {schema}.scored_history SET facts = facts || jsonb_build_object('segment_parts', to_jsonb(string_to_array(facts->>'segment', '-')))
WHERE NOT facts ? 'segment_parts' AND facts ? 'segment';

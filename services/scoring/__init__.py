"""Scoring: grades every lead under the one active rubric that sales and marketing
approved, explains each score with a ledger, and segments every lead."""

"""Routing's pure domain: the organisation and rules (``config``), working calendars
(``calendar``), the router (``router``), the follow-up clock (``sla``) and what happens to
an assignment over time (``lifecycle``). Nothing here does I/O."""

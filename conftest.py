"""Every test run (unit and end to end): Hypothesis with no per-example deadline. The
machine is shared and loaded; a slow first example is no failure (each property test
also says ``deadline=None`` itself)."""

from hypothesis import settings

settings.register_profile("leadbridge", deadline=None)
settings.load_profile("leadbridge")

"""The reproduction: the plan of every run of the four tables, the CPU scheduler that runs it within a budget,
and the measured rates its projections use."""

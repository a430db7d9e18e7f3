"""A run of the command line, as its stages: config, plan, work folder (lock, journal,
layout), the task graph, outputs and pyramids, pictures, the report; and ``align``."""

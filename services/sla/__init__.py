"""SLA: turnaround timelines and MeasureReport."""

"""The simulated day of the assignment engine (`make bench-assign`, docs/benchmarks.md,
"Assignment: a simulated day"): a world of facilities, contracts and radiologists, a day of
arrivals, a discrete-event simulation that drives the real engine and the baseline policies
over the same arrivals, an offline optimum on a small instance and decision latency at scale.
"""

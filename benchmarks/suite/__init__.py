"""The device suite's pieces, which benchmarks/device_suite.py puts together (docs/device_suite.md describes them).

budget.py: a section's budget and record, and the timing and memory measures every section uses. One module per
section, each with its table's COLUMNS and run(section, args): train.py, conv.py, inception.py, speedrun.py.
report.py: the Markdown report and the machine's description. transfer.py: --pack and --unpack, which move the data
onto the device in parts. Each imports only the standard library at import time (--unpack runs before the device has
ganjax's dependencies); jax, ganjax and the configs are imported inside the functions that use them, from the paths
benchmarks/device_suite.py puts on sys.path (the repository and benchmarks/).
"""
